"""Study `synthmri`: synthetic-MRI T1/T2/PD mapping with DL super-resolution of a fast protocol."""
