"""Every analysis of a model on one static page (index.html + report.json): the same flags and
call as `zfnet-tf report`.

    python tools/report.py --model demo_output/model/model.keras --dataset digits --out report
"""

import sys

from zfnet_tf.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
