"""tensorrt_runner: the registry's ONNX models served as TensorRT engines, with onnx_runner's API."""
