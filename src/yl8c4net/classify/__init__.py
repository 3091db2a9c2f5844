"""Source classification: Conv4Net (GALAXY / STAR / QSO) on 48 x 48 cut-outs."""

from yl8c4net.classify.model import CBAM, AlexNet48, Conv4Net, count_parameters

__all__ = ["CBAM", "AlexNet48", "Conv4Net", "count_parameters"]
