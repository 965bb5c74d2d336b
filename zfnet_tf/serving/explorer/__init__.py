"""The explorer: a browser page that shows what every layer of a served model responds to.

Plain static files (`static/`: HTML, CSS, ES modules; nothing fetched from the internet)
that talk to a model only through TF Serving's REST API and the SavedModel's signatures
(`decode_bytes`, `serving_default`, `class_names`, `maps_<key>`, `project_<key>`,
`project_map_<key>`, `occlusion`; docs/serving.md). `zfnet-tf serve` answers `GET /` with it
on its REST port (`explorer_routes`); `zfnet-tf explore` serves it in front of any server
that speaks the same API, `tensorflow_model_server` included, and forwards the page's
requests to it (`create_proxy_app`), since that server sends no CORS headers.
"""

from zfnet_tf.serving.explorer.routes import STATIC_DIR, explorer_routes

__all__ = ["STATIC_DIR", "explorer_routes"]
