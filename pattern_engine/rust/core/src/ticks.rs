//! Ticks from columns (the replay reads Arrow tables) to the msgpack of `Tick`, one payload per row.
//!
//! The replay's max-speed path: building a Python object per tick costs microseconds, so the columns come
//! here whole and each row is encoded with the serde mirror of the contract. A depth level is kept when its
//! price is a number and its quantity is not 0; a tick without any level has `depth: None`, as in
//! `aitrader.marketdata.schema.ticks_from_table`.

use thiserror::Error;

use crate::contracts::{encode, Depth, Level, Tick, SCHEMA_VERSION, TICK_TAG};

pub const DEPTH_LEVELS: usize = 5;

#[derive(Debug, Error, PartialEq)]
pub enum TicksError {
    #[error("column {column} has {found} rows, expected {expected}")]
    Length {
        column: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("column {column} row {row} must be >= 0, was {value}")]
    Negative {
        column: &'static str,
        row: usize,
        value: i64,
    },
    #[error("column {column} row {row} names dictionary entry {code}, but there are {size}")]
    Code {
        column: &'static str,
        row: usize,
        code: i32,
        size: usize,
    },
    #[error("encoding row {row} failed: {message}")]
    Encode { row: usize, message: String },
}

/// One side's depth: row-major `rows x DEPTH_LEVELS` prices (NaN: no level), quantities and order counts.
pub struct SideColumns<'a> {
    pub price: &'a [f64],
    pub qty: &'a [i64],
    pub orders: &'a [i64],
}

/// A batch of ticks as columns; strings are dictionary-encoded (`codes` index `values`), NaN is a null price.
pub struct TickColumns<'a> {
    pub ts_ns: &'a [i64],
    pub symbol_codes: &'a [i32],
    pub symbols: &'a [String],
    pub venue_codes: &'a [i32],
    pub venues: &'a [String],
    pub seq: &'a [i64],
    pub ltp: &'a [f64],
    pub ltq: &'a [i64],
    pub volume: &'a [i64],
    pub bid: &'a [f64],
    pub ask: &'a [f64],
    pub bid_qty: &'a [i64],
    pub ask_qty: &'a [i64],
    pub depth: Option<(SideColumns<'a>, SideColumns<'a>)>,
}

impl TickColumns<'_> {
    pub fn rows(&self) -> usize {
        self.ts_ns.len()
    }

    fn check(&self) -> Result<(), TicksError> {
        let rows = self.rows();
        let lengths = [
            ("symbol", self.symbol_codes.len()),
            ("venue", self.venue_codes.len()),
            ("seq", self.seq.len()),
            ("ltp", self.ltp.len()),
            ("ltq", self.ltq.len()),
            ("volume", self.volume.len()),
            ("bid", self.bid.len()),
            ("ask", self.ask.len()),
            ("bid_qty", self.bid_qty.len()),
            ("ask_qty", self.ask_qty.len()),
        ];
        for (column, found) in lengths {
            if found != rows {
                return Err(TicksError::Length {
                    column,
                    expected: rows,
                    found,
                });
            }
        }
        if let Some((bids, asks)) = &self.depth {
            for (column, side) in [("bid depth", bids), ("ask depth", asks)] {
                for found in [side.price.len(), side.qty.len(), side.orders.len()] {
                    if found != rows * DEPTH_LEVELS {
                        return Err(TicksError::Length {
                            column,
                            expected: rows * DEPTH_LEVELS,
                            found,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

fn unsigned(column: &'static str, values: &[i64], row: usize) -> Result<u64, TicksError> {
    let value = values[row];
    u64::try_from(value).map_err(|_| TicksError::Negative { column, row, value })
}

fn text<'a>(column: &'static str, codes: &[i32], values: &'a [String], row: usize) -> Result<&'a str, TicksError> {
    let code = codes[row];
    usize::try_from(code)
        .ok()
        .and_then(|index| values.get(index))
        .map(String::as_str)
        .ok_or(TicksError::Code {
            column,
            row,
            code,
            size: values.len(),
        })
}

fn price(value: f64) -> Option<f64> {
    if value.is_nan() {
        None
    } else {
        Some(value)
    }
}

fn side(columns: &SideColumns<'_>, row: usize) -> Result<Vec<Level>, TicksError> {
    let mut levels = Vec::with_capacity(DEPTH_LEVELS);
    for level in 0..DEPTH_LEVELS {
        let at = row * DEPTH_LEVELS + level;
        let qty = unsigned("depth qty", columns.qty, at)?;
        if columns.price[at].is_nan() || qty == 0 {
            continue;
        }
        levels.push(Level(
            columns.price[at],
            qty,
            unsigned("depth orders", columns.orders, at)?,
        ));
    }
    Ok(levels)
}

/// The msgpack payload of every row, in row order.
pub fn encode_ticks(columns: &TickColumns<'_>) -> Result<Vec<Vec<u8>>, TicksError> {
    columns.check()?;
    let mut payloads = Vec::with_capacity(columns.rows());
    for row in 0..columns.rows() {
        let depth = match &columns.depth {
            Some((bids, asks)) => {
                let depth = Depth {
                    bids: side(bids, row)?,
                    asks: side(asks, row)?,
                };
                (!depth.bids.is_empty() || !depth.asks.is_empty()).then_some(depth)
            }
            None => None,
        };
        let tick = Tick {
            msg: TICK_TAG.to_owned(),
            v: SCHEMA_VERSION,
            ts_ns: unsigned("ts_ns", columns.ts_ns, row)?,
            symbol: text("symbol", columns.symbol_codes, columns.symbols, row)?.to_owned(),
            venue: text("venue", columns.venue_codes, columns.venues, row)?.to_owned(),
            seq: unsigned("seq", columns.seq, row)?,
            ltp: columns.ltp[row],
            ltq: unsigned("ltq", columns.ltq, row)?,
            volume: unsigned("volume", columns.volume, row)?,
            bid: price(columns.bid[row]),
            ask: price(columns.ask[row]),
            bid_qty: unsigned("bid_qty", columns.bid_qty, row)?,
            ask_qty: unsigned("ask_qty", columns.ask_qty, row)?,
            depth,
        };
        payloads.push(encode(&tick).map_err(|e| TicksError::Encode {
            row,
            message: e.to_string(),
        })?);
    }
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::decode;

    fn columns<'a>(symbols: &'a [String], venues: &'a [String]) -> TickColumns<'a> {
        TickColumns {
            ts_ns: &[1_763_696_700_000_000_000, 1_763_696_700_000_000_001],
            symbol_codes: &[0, 1],
            symbols,
            venue_codes: &[0, 0],
            venues,
            seq: &[1, 300],
            ltp: &[1500.05, 3400.0],
            ltq: &[10, 0],
            volume: &[10, 70_000],
            bid: &[1500.0, f64::NAN],
            ask: &[1500.1, f64::NAN],
            bid_qty: &[300, 0],
            ask_qty: &[200, 0],
            depth: None,
        }
    }

    #[test]
    fn rows_encode_as_ticks_with_null_prices_as_none() {
        let (symbols, venues) = (vec!["INFY".to_owned(), "TCS".to_owned()], vec!["NSE".to_owned()]);

        let payloads = encode_ticks(&columns(&symbols, &venues)).unwrap();

        let second: Tick = decode(&payloads[1]).unwrap();
        assert_eq!(
            (second.symbol.as_str(), second.seq, second.volume),
            ("TCS", 300, 70_000)
        );
        assert_eq!((second.bid, second.ask, second.depth), (None, None, None));
    }

    #[test]
    fn depth_keeps_levels_with_a_price_and_a_quantity() {
        let (symbols, venues) = (vec!["INFY".to_owned(), "TCS".to_owned()], vec!["NSE".to_owned()]);
        let mut bid_price = [f64::NAN; 10];
        bid_price[0] = 1500.0;
        bid_price[1] = 1499.95;
        let mut bid_qty = [0i64; 10];
        bid_qty[0] = 300;
        let orders = [1i64; 10];
        let ask_price = [f64::NAN; 10];
        let ask_qty = [0i64; 10];
        let mut batch = columns(&symbols, &venues);
        batch.depth = Some((
            SideColumns {
                price: &bid_price,
                qty: &bid_qty,
                orders: &orders,
            },
            SideColumns {
                price: &ask_price,
                qty: &ask_qty,
                orders: &orders,
            },
        ));

        let payloads = encode_ticks(&batch).unwrap();

        let first: Tick = decode(&payloads[0]).unwrap();
        assert_eq!(
            first.depth,
            Some(Depth {
                bids: vec![Level(1500.0, 300, 1)],
                asks: vec![]
            })
        );
        let second: Tick = decode(&payloads[1]).unwrap();
        assert_eq!(second.depth, None);
    }

    #[test]
    fn bad_columns_are_errors_naming_column_and_row() {
        let (symbols, venues) = (vec!["INFY".to_owned()], vec!["NSE".to_owned()]);
        let mut batch = columns(&symbols, &venues);
        assert_eq!(
            encode_ticks(&batch).unwrap_err(),
            TicksError::Code {
                column: "symbol",
                row: 1,
                code: 1,
                size: 1
            }
        );
        batch.symbol_codes = &[0, 0];
        batch.ltq = &[10, -2];
        assert_eq!(
            encode_ticks(&batch).unwrap_err(),
            TicksError::Negative {
                column: "ltq",
                row: 1,
                value: -2
            }
        );
        batch.seq = &[1];
        assert_eq!(
            encode_ticks(&batch).unwrap_err().to_string(),
            "column seq has 1 rows, expected 2"
        );
    }
}
