"""PyTorch reference networks, one file each. Importing this package needs the ``train`` extra (torch)."""
