"""asv benchmarks of fastcavi (see ../asv.conf.json)."""
