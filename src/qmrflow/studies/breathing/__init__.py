"""Study `breathing`: real-time MRI of breathing and diaphragm function in late-onset Pompe disease.

Zeng et al., MedComm 2026: 11 late-onset Pompe patients and 11 controls were imaged with
real-time radial FLASH MRI (50 ms per frame, coronal) during quiet and deep breathing and a
sniff manoeuvre; a U-Net segments the lungs in every frame, giving the diaphragm position per
hemithorax, the lung area and the thoracic width. Patients had reduced diaphragm excursion and
sniff velocity, a pathological synchronicity of diaphragm and chest wall, and most showed
paradoxical diaphragm motion during the sniff; single-shot inversion-recovery T1 mapping
quantified the fatty involution of the diaphragm, correlated with the real-time parameters and
pulmonary function (FVC upright and its supine drop, MIP, SNIP).
"""
