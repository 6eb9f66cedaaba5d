"""Asset completion (GINA-3D-style, CPU scale): whole simulation-ready assets from partial views.

Modules, one job each:
    types         ObjectObservation, CompletedAsset, Alternative, AssetError
    shapes        procedural categories as coloured analytic SDFs (training / held-out seeds)
    samples       canonical object coordinates, training samples
    prior         tri-plane VQ auto-encoder + MaskGIT token transformer (torch)
    completion    AssetCompleter.complete(observation) -> CompletedAsset (with fallbacks)
    observations  vision_msgs detections, plane+DBSCAN proposals, per-object accumulation
    offline       observations from a bag (used by `slam-nodes assets`)
    export        export_asset(asset, out_dir): glb/obj, Gazebo model folder, splat .ply
    splat         Gaussian splat fit (gsplat torch projection on CPU, gsplat CUDA on GPU)
    baselines     observed-only grid SDF fit (GridPull-style) and mirror symmetry
    metrics       Chamfer-L1, F-score (observed / hidden parts), box-size error
Heavy modules (torch, open3d) are imported only by the modules that need them.
"""

from slam_nodes.assets.types import Alternative, AssetError, CompletedAsset, ObjectObservation

__all__ = ["Alternative", "AssetError", "CompletedAsset", "ObjectObservation"]
