"""Image registration shared by the studies: displacement-field warping, robust PCA, the
SimpleITK iterative baseline and one-shot deep-learning registration (MONAI)."""
