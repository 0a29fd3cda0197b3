"""Backend declarations, one module per family; see ``kernels.registry``."""
