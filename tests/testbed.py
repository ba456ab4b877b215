"""Plain facts the tests share: repository paths and the tiny encoder's config.

Kept out of `conftest.py` on purpose: several folders have their own `conftest.py`, and
`from testbed import X` binds to whichever of them pytest loaded last.
"""

import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"

# Tiny encoder for pipeline tests: SSCP flatten (128 // 4) * 4 = 128 -> 32 wide, 2 blocks of 2 heads
# of 16, output_proj 32 -> 48, LM projection 48 -> 64.
TINY_ENCODER_CONFIG = {
    "hidden_size": 32,
    "num_heads": 2,
    "num_layers": 2,
    "sscp_conv_channels": (8, 4),
    "output_proj_dims": 48,
    "output_dim": 64,
}
