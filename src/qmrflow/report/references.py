"""The reference list of the methods texts: software and the methods of qmrflow's shared code.

One :class:`Reference` per publication, cited by the methods text of every study that uses the
method (:mod:`qmrflow.report.methods`). A study's own paper and the methods only its own code
implements are defined in ``qmrflow.studies.<study>.methods`` beside the text that cites them;
what lives here is cited for code shared by several studies (``qmrflow.stats``,
``qmrflow.recon``, ``qmrflow.registration``, ``qmrflow.dl``, ``qmrflow.fitting``) and for the
software packages (:data:`PACKAGE_REFERENCES`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PACKAGE_REFERENCES", "Reference"]


@dataclass(frozen=True)
class Reference:
    """One publication.

    Parameters
    ----------
    label
        The in-text citation, author and year (``"Mölder et al. 2021"``); unique in a reference
        list, which is sorted by it.
    text
        The full reference without its DOI (authors, title, journal, year;volume:pages).
    doi
        The DOI, without ``https://doi.org/``.
    url
        A link where the publication has no DOI.
    """

    label: str
    text: str
    doi: str | None = None
    url: str | None = None

    @property
    def link(self) -> str | None:
        """Where to read it: the DOI's resolver address, else the URL."""
        return f"https://doi.org/{self.doi}" if self.doi else self.url

    def formatted(self) -> str:
        """The reference as one line of plain text, with its DOI or URL."""
        if self.doi:
            return f"{self.text} doi:{self.doi}"
        return f"{self.text} {self.url}" if self.url else self.text


# ------------------------------------------------------------------ software
SNAKEMAKE = Reference(
    "Mölder et al. 2021",
    "Mölder F, Jablonski KP, Letcher B, Hall MB, Tomkins-Tinch CH, Sochat V, Forster J, Lee S, "
    "Twardziok SO, Kanitz A, Wilm A, Holtgrewe M, Rahmann S, Nahnsen S, Köster J. Sustainable "
    "data analysis with Snakemake. F1000Research. 2021;10:33.",
    doi="10.12688/f1000research.29032.2",
)
PYTORCH = Reference(
    "Paszke et al. 2019",
    "Paszke A, Gross S, Massa F, Lerer A, Bradbury J, Chanan G, et al. PyTorch: an imperative "
    "style, high-performance deep learning library. Advances in Neural Information Processing "
    "Systems 32 (NeurIPS). 2019:8024-8035.",
    doi="10.48550/arXiv.1912.01703",
)
MONAI = Reference(
    "Cardoso et al. 2022",
    "Cardoso MJ, Li W, Brown R, Ma N, Kerfoot E, Wang Y, et al. MONAI: an open-source framework "
    "for deep learning in healthcare. arXiv:2211.02701. 2022.",
    doi="10.48550/arXiv.2211.02701",
)
NUMPY = Reference(
    "Harris et al. 2020",
    "Harris CR, Millman KJ, van der Walt SJ, Gommers R, Virtanen P, Cournapeau D, et al. Array "
    "programming with NumPy. Nature. 2020;585(7825):357-362.",
    doi="10.1038/s41586-020-2649-2",
)
SCIPY = Reference(
    "Virtanen et al. 2020",
    "Virtanen P, Gommers R, Oliphant TE, Haberland M, Reddy T, Cournapeau D, et al. SciPy 1.0: "
    "fundamental algorithms for scientific computing in Python. Nat Methods. "
    "2020;17(3):261-272.",
    doi="10.1038/s41592-019-0686-2",
)
PANDAS = Reference(
    "McKinney 2010",
    "McKinney W. Data structures for statistical computing in Python. Proceedings of the 9th "
    "Python in Science Conference. 2010:56-61.",
    doi="10.25080/Majora-92bf1922-00a",
)
STATSMODELS = Reference(
    "Seabold & Perktold 2010",
    "Seabold S, Perktold J. Statsmodels: econometric and statistical modeling with Python. "
    "Proceedings of the 9th Python in Science Conference. 2010:92-96.",
    doi="10.25080/Majora-92bf1922-011",
)
PINGOUIN = Reference(
    "Vallat 2018",
    "Vallat R. Pingouin: statistics in Python. J Open Source Softw. 2018;3(31):1026.",
    doi="10.21105/joss.01026",
)
SCIKIT_LEARN = Reference(
    "Pedregosa et al. 2011",
    "Pedregosa F, Varoquaux G, Gramfort A, Michel V, Thirion B, Grisel O, et al. Scikit-learn: "
    "machine learning in Python. J Mach Learn Res. 2011;12:2825-2830.",
    url="https://jmlr.org/papers/v12/pedregosa11a.html",
)
SCIKIT_IMAGE = Reference(
    "van der Walt et al. 2014",
    "van der Walt S, Schönberger JL, Nunez-Iglesias J, Boulogne F, Warner JD, Yager N, et al. "
    "scikit-image: image processing in Python. PeerJ. 2014;2:e453.",
    doi="10.7717/peerj.453",
)
NIBABEL = Reference(
    "Brett et al., nibabel",
    "Brett M, Markiewicz CJ, Hanke M, Côté MA, Cipollini B, McCarthy P, et al. nipy/nibabel. "
    "Zenodo.",
    doi="10.5281/zenodo.591597",
)
SIMPLEITK = Reference(
    "Lowekamp et al. 2013",
    "Lowekamp BC, Chen DT, Ibáñez L, Blezek D. The design of SimpleITK. Front Neuroinform. "
    "2013;7:45.",
    doi="10.3389/fninf.2013.00045",
)
FINUFFT = Reference(
    "Barnett et al. 2019",
    "Barnett AH, Magland J, af Klinteberg L. A parallel nonuniform fast Fourier transform "
    'library based on an "exponential of semicircle" kernel. SIAM J Sci Comput. '
    "2019;41(5):C479-C504.",
    doi="10.1137/18M120885X",
)
MATPLOTLIB = Reference(
    "Hunter 2007",
    "Hunter JD. Matplotlib: a 2D graphics environment. Comput Sci Eng. 2007;9(3):90-95.",
    doi="10.1109/MCSE.2007.55",
)
ISMRMRD = Reference(
    "Inati et al. 2017",
    "Inati SJ, Naegele JD, Zwart NR, Roopchansingh V, Lizak MJ, Hansen DC, et al. ISMRM Raw "
    "data format: a proposed standard for MRI raw datasets. Magn Reson Med. "
    "2017;77(1):411-421.",
    doi="10.1002/mrm.26089",
)
BIDS = Reference(
    "Gorgolewski et al. 2016",
    "Gorgolewski KJ, Auer T, Calhoun VD, Craddock RC, Das S, Duff EP, et al. The brain imaging "
    "data structure, a format for organizing and describing outputs of neuroimaging "
    "experiments. Sci Data. 2016;3:160044.",
    doi="10.1038/sdata.2016.44",
)

#: Distribution name (as :mod:`importlib.metadata` knows it) -> the package's reference.
PACKAGE_REFERENCES: dict[str, Reference] = {
    "snakemake": SNAKEMAKE,
    "torch": PYTORCH,
    "monai": MONAI,
    "numpy": NUMPY,
    "scipy": SCIPY,
    "pandas": PANDAS,
    "statsmodels": STATSMODELS,
    "pingouin": PINGOUIN,
    "scikit-learn": SCIKIT_LEARN,
    "scikit-image": SCIKIT_IMAGE,
    "nibabel": NIBABEL,
    "SimpleITK": SIMPLEITK,
    "finufft": FINUFFT,
    "matplotlib": MATPLOTLIB,
    "ismrmrd": ISMRMRD,
}

# ------------------------------------------------------------------ statistics (qmrflow.stats)
WILSON = Reference(
    "Wilson 1927",
    "Wilson EB. Probable inference, the law of succession, and statistical inference. J Am "
    "Stat Assoc. 1927;22(158):209-212.",
    doi="10.1080/01621459.1927.10502953",
)
NEWCOMBE = Reference(
    "Newcombe 1998",
    "Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of "
    "seven methods. Stat Med. 1998;17(8):857-872.",
    doi="10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E",
)
SIMEL = Reference(
    "Simel et al. 1991",
    "Simel DL, Samsa GP, Matchar DB. Likelihood ratios with confidence: sample size estimation "
    "for diagnostic test studies. J Clin Epidemiol. 1991;44(8):763-770.",
    doi="10.1016/0895-4356(91)90128-V",
)
DELONG = Reference(
    "DeLong et al. 1988",
    "DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated "
    "receiver operating characteristic curves: a nonparametric approach. Biometrics. "
    "1988;44(3):837-845.",
    doi="10.2307/2531595",
)
SUN_XU = Reference(
    "Sun & Xu 2014",
    "Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under "
    "correlated receiver operating characteristic curves. IEEE Signal Process Lett. "
    "2014;21(11):1389-1393.",
    doi="10.1109/LSP.2014.2337313",
)
HOLM = Reference(
    "Holm 1979",
    "Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat. "
    "1979;6(2):65-70.",
    url="https://www.jstor.org/stable/4615733",
)
BENJAMINI_HOCHBERG = Reference(
    "Benjamini & Hochberg 1995",
    "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful "
    "approach to multiple testing. J R Stat Soc Series B. 1995;57(1):289-300.",
    doi="10.1111/j.2517-6161.1995.tb02031.x",
)
COHEN_KAPPA = Reference(
    "Cohen 1960",
    "Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas. 1960;20(1):37-46.",
    doi="10.1177/001316446002000104",
)
COHEN_WEIGHTED_KAPPA = Reference(
    "Cohen 1968",
    "Cohen J. Weighted kappa: nominal scale agreement with provision for scaled disagreement or "
    "partial credit. Psychol Bull. 1968;70(4):213-220.",
    doi="10.1037/h0026256",
)
FLEISS_COHEN_EVERITT = Reference(
    "Fleiss et al. 1969",
    "Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa. "
    "Psychol Bull. 1969;72(5):323-327.",
    doi="10.1037/h0028106",
)
FLEISS_KAPPA = Reference(
    "Fleiss 1971",
    "Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull. "
    "1971;76(5):378-382.",
    doi="10.1037/h0031619",
)
FLEISS_NEE_LANDIS = Reference(
    "Fleiss et al. 1979",
    "Fleiss JL, Nee JCM, Landis JR. Large sample variance of kappa in the case of different "
    "sets of raters. Psychol Bull. 1979;86(5):974-977.",
    doi="10.1037/0033-2909.86.5.974",
)
GWET = Reference(
    "Gwet 2014",
    "Gwet KL. Handbook of Inter-Rater Reliability. 4th ed. Gaithersburg (MD): Advanced "
    "Analytics; 2014.",
)
BLAND_ALTMAN_1986 = Reference(
    "Bland & Altman 1986",
    "Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of "
    "clinical measurement. Lancet. 1986;327(8476):307-310.",
    doi="10.1016/S0140-6736(86)90837-8",
)
BLAND_ALTMAN_1999 = Reference(
    "Bland & Altman 1999",
    "Bland JM, Altman DG. Measuring agreement in method comparison studies. Stat Methods Med "
    "Res. 1999;8(2):135-160.",
    doi="10.1177/096228029900800204",
)
WILCOXON = Reference(
    "Wilcoxon 1945",
    "Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bull. 1945;1(6):80-83.",
    doi="10.2307/3001968",
)
MANN_WHITNEY = Reference(
    "Mann & Whitney 1947",
    "Mann HB, Whitney DR. On a test of whether one of two random variables is stochastically "
    "larger than the other. Ann Math Stat. 1947;18(1):50-60.",
    doi="10.1214/aoms/1177730491",
)
KERBY = Reference(
    "Kerby 2014",
    "Kerby DS. The simple difference formula: an approach to teaching nonparametric "
    "correlation. Compr Psychol. 2014;3:11.IT.3.1.",
    doi="10.2466/11.IT.3.1",
)
WELCH = Reference(
    "Welch 1947",
    "Welch BL. The generalization of 'Student's' problem when several different population "
    "variances are involved. Biometrika. 1947;34(1-2):28-35.",
    doi="10.1093/biomet/34.1-2.28",
)
HEDGES = Reference(
    "Hedges 1981",
    "Hedges LV. Distribution theory for Glass's estimator of effect size and related "
    "estimators. J Educ Stat. 1981;6(2):107-128.",
    doi="10.3102/10769986006002107",
)
BONETT_WRIGHT = Reference(
    "Bonett & Wright 2000",
    "Bonett DG, Wright TA. Sample size requirements for estimating Pearson, Kendall and "
    "Spearman correlations. Psychometrika. 2000;65(1):23-28.",
    doi="10.1007/BF02294183",
)

# ------------------------------------------------------------------ deep learning (qmrflow.dl)
RONNEBERGER = Reference(
    "Ronneberger et al. 2015",
    "Ronneberger O, Fischer P, Brox T. U-Net: convolutional networks for biomedical image "
    "segmentation. Medical Image Computing and Computer-Assisted Intervention (MICCAI), LNCS "
    "9351. 2015:234-241.",
    doi="10.1007/978-3-319-24574-4_28",
)
HE_RESNET = Reference(
    "He et al. 2016",
    "He K, Zhang X, Ren S, Sun J. Deep residual learning for image recognition. Proc IEEE Conf "
    "Comput Vis Pattern Recognit (CVPR). 2016:770-778.",
    doi="10.1109/CVPR.2016.90",
)
HUANG_DENSENET = Reference(
    "Huang et al. 2017",
    "Huang G, Liu Z, van der Maaten L, Weinberger KQ. Densely connected convolutional networks. "
    "Proc IEEE Conf Comput Vis Pattern Recognit (CVPR). 2017:4700-4708.",
    doi="10.1109/CVPR.2017.243",
)
TAN_EFFICIENTNET = Reference(
    "Tan & Le 2019",
    "Tan M, Le QV. EfficientNet: rethinking model scaling for convolutional neural networks. "
    "Proc 36th Int Conf Mach Learn (ICML), PMLR 97. 2019:6105-6114.",
    url="https://proceedings.mlr.press/v97/tan19a.html",
)
ZHOU_CAM = Reference(
    "Zhou et al. 2016",
    "Zhou B, Khosla A, Lapedriza A, Oliva A, Torralba A. Learning deep features for "
    "discriminative localization. Proc IEEE Conf Comput Vis Pattern Recognit (CVPR). "
    "2016:2921-2929.",
    doi="10.1109/CVPR.2016.319",
)
SELVARAJU_GRADCAM = Reference(
    "Selvaraju et al. 2017",
    "Selvaraju RR, Cogswell M, Das A, Vedantam R, Parikh D, Batra D. Grad-CAM: visual "
    "explanations from deep networks via gradient-based localization. Proc IEEE Int Conf "
    "Comput Vis (ICCV). 2017:618-626.",
    doi="10.1109/ICCV.2017.74",
)
ADAM = Reference(
    "Kingma & Ba 2015",
    "Kingma DP, Ba J. Adam: a method for stochastic optimization. 3rd International Conference "
    "on Learning Representations (ICLR). 2015.",
    doi="10.48550/arXiv.1412.6980",
)
ADAMW = Reference(
    "Loshchilov & Hutter 2019",
    "Loshchilov I, Hutter F. Decoupled weight decay regularization. 7th International "
    "Conference on Learning Representations (ICLR). 2019.",
    doi="10.48550/arXiv.1711.05101",
)
COSINE_SCHEDULE = Reference(
    "Loshchilov & Hutter 2017",
    "Loshchilov I, Hutter F. SGDR: stochastic gradient descent with warm restarts. 5th "
    "International Conference on Learning Representations (ICLR). 2017.",
    doi="10.48550/arXiv.1608.03983",
)
LEDIG_SRGAN = Reference(
    "Ledig et al. 2017",
    "Ledig C, Theis L, Huszár F, Caballero J, Cunningham A, Acosta A, et al. Photo-realistic "
    "single image super-resolution using a generative adversarial network. Proc IEEE Conf "
    "Comput Vis Pattern Recognit (CVPR). 2017:4681-4690.",
    doi="10.1109/CVPR.2017.19",
)
SHI_SUBPIXEL = Reference(
    "Shi et al. 2016",
    "Shi W, Caballero J, Huszár F, Totz J, Aitken AP, Bishop R, et al. Real-time single image "
    "and video super-resolution using an efficient sub-pixel convolutional neural network. "
    "Proc IEEE Conf Comput Vis Pattern Recognit (CVPR). 2016:1874-1883.",
    doi="10.1109/CVPR.2016.207",
)
KIM_VDSR = Reference(
    "Kim et al. 2016",
    "Kim J, Lee JK, Lee KM. Accurate image super-resolution using very deep convolutional "
    "networks. Proc IEEE Conf Comput Vis Pattern Recognit (CVPR). 2016:1646-1654.",
    doi="10.1109/CVPR.2016.182",
)
ISOLA_PATCHGAN = Reference(
    "Isola et al. 2017",
    "Isola P, Zhu JY, Zhou T, Efros AA. Image-to-image translation with conditional "
    "adversarial networks. Proc IEEE Conf Comput Vis Pattern Recognit (CVPR). "
    "2017:1125-1134.",
    doi="10.1109/CVPR.2017.632",
)
HU_REGISTRATION = Reference(
    "Hu et al. 2018",
    "Hu Y, Modat M, Gibson E, Li W, Ghavami N, Bonmati E, et al. Weakly-supervised "
    "convolutional neural networks for multimodal image registration. Med Image Anal. "
    "2018;49:1-13.",
    doi="10.1016/j.media.2018.07.002",
)

# ------------------------------------------------------------------ fitting, recon, registration
LEVENBERG = Reference(
    "Levenberg 1944",
    "Levenberg K. A method for the solution of certain non-linear problems in least squares. "
    "Q Appl Math. 1944;2(2):164-168.",
    doi="10.1090/qam/10666",
)
MARQUARDT = Reference(
    "Marquardt 1963",
    "Marquardt DW. An algorithm for least-squares estimation of nonlinear parameters. J Soc "
    "Ind Appl Math. 1963;11(2):431-441.",
    doi="10.1137/0111030",
)
BARRAL = Reference(
    "Barral et al. 2010",
    "Barral JK, Gudmundson E, Stikov N, Etezadi-Amoli M, Stoica P, Nishimura DG. A robust "
    "methodology for in vivo T1 mapping. Magn Reson Med. 2010;64(4):1057-1067.",
    doi="10.1002/mrm.22497",
)
GUDBJARTSSON_PATZ = Reference(
    "Gudbjartsson & Patz 1995",
    "Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson Med. "
    "1995;34(6):910-914.",
    doi="10.1002/mrm.1910340618",
)
OTSU = Reference(
    "Otsu 1979",
    "Otsu N. A threshold selection method from gray-level histograms. IEEE Trans Syst Man "
    "Cybern. 1979;9(1):62-66.",
    doi="10.1109/TSMC.1979.4310076",
)
WANG_SSIM = Reference(
    "Wang et al. 2004",
    "Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error "
    "visibility to structural similarity. IEEE Trans Image Process. 2004;13(4):600-612.",
    doi="10.1109/TIP.2003.819861",
)
WALSH = Reference(
    "Walsh et al. 2000",
    "Walsh DO, Gmitro AF, Marcellin MW. Adaptive reconstruction of phased array MR imagery. "
    "Magn Reson Med. 2000;43(5):682-690.",
    doi="10.1002/(SICI)1522-2594(200005)43:5<682::AID-MRM10>3.0.CO;2-G",
)
PRUESSMANN = Reference(
    "Pruessmann et al. 2001",
    "Pruessmann KP, Weiger M, Börnert P, Boesiger P. Advances in sensitivity encoding with "
    "arbitrary k-space trajectories. Magn Reson Med. 2001;46(4):638-651.",
    doi="10.1002/mrm.1241",
)
JACKSON_GRIDDING = Reference(
    "Jackson et al. 1991",
    "Jackson JI, Meyer CH, Nishimura DG, Macovski A. Selection of a convolution function for "
    "Fourier inversion using gridding. IEEE Trans Med Imaging. 1991;10(3):473-478.",
    doi="10.1109/42.97598",
)
ROEMER = Reference(
    "Roemer et al. 1990",
    "Roemer PB, Edelstein WA, Hayes CE, Souza SP, Mueller OM. The NMR phased array. Magn Reson "
    "Med. 1990;16(2):192-225.",
    doi="10.1002/mrm.1910160203",
)
UECKER_REALTIME = Reference(
    "Uecker et al. 2010",
    "Uecker M, Zhang S, Voit D, Karaus A, Merboldt KD, Frahm J. Real-time MRI at a resolution "
    "of 20 ms. NMR Biomed. 2010;23(8):986-994.",
    doi="10.1002/nbm.1585",
)
LIN_IALM = Reference(
    "Lin et al. 2010",
    "Lin Z, Chen M, Ma Y. The augmented Lagrange multiplier method for exact recovery of "
    "corrupted low-rank matrices. arXiv:1009.5055. 2010.",
    doi="10.48550/arXiv.1009.5055",
)
CANDES_RPCA = Reference(
    "Candès et al. 2011",
    "Candès EJ, Li X, Ma Y, Wright J. Robust principal component analysis? J ACM. 2011;58(3):11.",
    doi="10.1145/1970392.1970395",
)
SCANNELL = Reference(
    "Scannell et al. 2019",
    "Scannell CM, Villa ADM, Lee J, Breeuwer M, Chiribiri A. Robust non-rigid motion "
    "compensation of free-breathing myocardial perfusion MRI data. IEEE Trans Med Imaging. "
    "2019;38(8):1812-1820.",
    doi="10.1109/TMI.2019.2897044",
)
MELBOURNE = Reference(
    "Melbourne et al. 2007",
    "Melbourne A, Atkinson D, White MJ, Collins D, Leach M, Hawkes D. Registration of dynamic "
    "contrast-enhanced MRI using a progressive principal component registration (PPCR). Phys "
    "Med Biol. 2007;52(17):5147-5156.",
    doi="10.1088/0031-9155/52/17/003",
)
HAMY = Reference(
    "Hamy et al. 2014",
    "Hamy V, Dikaios N, Punwani S, Melbourne A, Latifoltojar A, Makanyanga J, et al. "
    "Respiratory motion correction in dynamic MRI using robust data decomposition registration "
    "- application to DCE-MRI. Med Image Anal. 2014;18(2):301-313.",
    doi="10.1016/j.media.2013.10.016",
)
MATTES = Reference(
    "Mattes et al. 2003",
    "Mattes D, Haynor DR, Vesselle H, Lewellen TK, Eubank W. PET-CT image registration in the "
    "chest using free-form deformations. IEEE Trans Med Imaging. 2003;22(1):120-128.",
    doi="10.1109/TMI.2003.809072",
)
RUECKERT = Reference(
    "Rueckert et al. 1999",
    "Rueckert D, Sonoda LI, Hayes C, Hill DLG, Leach MO, Hawkes DJ. Nonrigid registration "
    "using free-form deformations: application to breast MR images. IEEE Trans Med Imaging. "
    "1999;18(8):712-721.",
    doi="10.1109/42.796284",
)
FONOV_MNI = Reference(
    "Fonov et al. 2011",
    "Fonov V, Evans AC, Botteron K, Almli CR, McKinstry RC, Collins DL. Unbiased average "
    "age-appropriate atlases for pediatric studies. NeuroImage. 2011;54(1):313-327.",
    doi="10.1016/j.neuroimage.2010.07.033",
)
