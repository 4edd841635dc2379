"""One module per inference backend plus the hardware selector. Installed as ``edge_vasa.runtimes``."""
