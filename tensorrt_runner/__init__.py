"""tensorrt_runner (:8007): the registry's ONNX models built into TensorRT engines (fp32 or fp16, cached by model
hash and GPU) and served with onnx_runner's API. Without TensorRT or a GPU it still starts and answers 503 with
the reason; nothing here imports TensorRT or CUDA until a model is built or run."""
