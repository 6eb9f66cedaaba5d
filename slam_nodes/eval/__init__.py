"""Evaluation: ATE/RPE (evo), mesh metrics, the Open3D baseline, reports (DESIGN.md section 7).

Modules: `trajectory` (ATE/RPE with evo), `mesh` (accuracy / completion / F-score / depth L1),
`sources` (trajectories from TUM files, run folders and bags), `report` (metrics.json,
report.md, comparisons), `plots` (PNG figures), `evaluate` (the `slam-nodes eval` pipeline),
`baselines` (Open3D dense RGB-D SLAM and RGB-D odometry).

Run-folder layout, shared by every producer (SLAM replay, baselines) and by `slam-nodes eval`:

    DIR/trajectory.tum     estimated camera poses T_world_cam, TUM format (t tx ty tz qx qy qz qw,
                           seconds, metres, quaternion x y z w)
    DIR/mesh.ply           reconstructed mesh in the world frame, metres (optional)
    DIR/config.yaml        the configuration the run used (optional)
    DIR/metrics.json       scores and run facts (format "slam_nodes.eval/1", see `report`);
                           a producer may write it first with only "extra" (e.g. frames/s),
                           `slam-nodes eval` keeps that "extra" when it scores the folder
    DIR/report.md          human-readable report with the tables and figures
    DIR/figures/*.png      traj_top, traj_side, ate_time, axis_error, mesh_error

Import the submodules directly; this package imports nothing heavy.
"""
