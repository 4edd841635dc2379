"""The networks' fixed input geometry, torch-free: shared by the PyTorch models and by the numpy code that
builds their inputs on the edge runtime (pipeline.decoder_inputs), so both agree by construction."""

ENCODE_SIZE = 256  # the crop is encoded at this resolution; features come out at half of it
FLOW_SIZE = 64  # the decoder's flow resolution (and the size of the photo the flow network sees)
TPS_REGULARIZATION = 1e-4  # keeps the spline's solve stable when control points coincide (closed lips)
