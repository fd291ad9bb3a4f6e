"""The local stack: the whole system on one machine, on moto, driven by the SAM template itself."""
