"""Study `qsm`: DL-reconstructed 3D-EPI quantitative susceptibility mapping in multiple sclerosis.

Gkotsoulias et al., Frontiers in Neuroscience 2025: 3 T 3D-EPI of 7 MS patients reconstructed
conventionally (CR) and by a deep-learning k-space reconstruction that denoises and
super-resolves (DLR); QSM from both. Two blinded raters scored 433 FLAIR lesions on CR- and
DLR-QSM (paramagnetic rim, central vein sign, hyper/isointensity, image quality): DLR was rated
higher, with Cohen's kappa between methods of 0.98 and 0.92. In a volunteer, DLR-EPI QSM from a
quarter of the GRE's acquisition time agreed with GRE-QSM.

The QSM steps (field fit, Laplacian unwrapping, masking, V-SHARP, TKD and TV-ADMM inversion,
challenge metrics) are written here as vectorised FFT code: no maintained Python QSM library
fits our numpy-2 stack (QSMxT pins numpy 1.24 and runs its algorithms outside Python).
"""
