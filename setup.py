"""ament_python package that also installs with plain `pip install -e .`."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "slam_nodes"

setup(
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    # colcon (ament_python) installs these into share/; pip ignores absolute-free data_files
    # only when they do not exist, so every path below is relative and present in the repo.
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
)
