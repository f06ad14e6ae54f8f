"""onnx_runner (:8001): ONNX Runtime model server over a registry of ONNX files with their metadata."""
