"""onnx_runner (:8001): the model registry (ONNX files with their metadata) served by ONNX Runtime.

It owns the registry and its hot reload (``registry``), micro-batching (``batching``), forecasts for a symbol from
its stored bars (``forecast``), the runners' HTTP API (``app``, which tensorrt_runner serves too), and training:
N-BEATS and the example classifiers fitted with JAX and exported to ONNX (``training``, ``aitrader train``).
"""
