"""Ray orchestration: the only package that calls ray.init / ray.remote (workers stay plain classes)."""
