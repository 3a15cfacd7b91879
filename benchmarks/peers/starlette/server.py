"""The plain reference: a Starlette app on uvicorn that runs the model in a thread pool.

What someone would write without a model server: ``POST /predict`` with the raw JPEG, the model
called through Starlette's ``run_in_threadpool`` (so several images run at once, each on
``--threads`` ONNX Runtime intra-op threads), the top-1 class as JSON. uvicorn with uvloop and
httptools, no access log, bound to 127.0.0.1.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from benchmarks.peers.launch import launch_parser
from benchmarks.peers.serving import Classifier


def create_app(classifier: Classifier) -> Starlette:
    async def predict(request: Request) -> Response:
        image = await request.body()
        return JSONResponse(await run_in_threadpool(classifier.predict, image))

    async def health(request: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(
        routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)]
    )


def main() -> None:
    parser = launch_parser(threads=1)
    args = parser.parse_args()
    app = create_app(Classifier(args.model, args.labels, args.threads))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
