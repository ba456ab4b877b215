"""A loopback stand-in for the Hugging Face Hub's file endpoints, with a request log.

`huggingface_hub.hf_hub_download` makes two calls per file it does not have cached:
`HEAD /{repo_id}/resolve/{revision}/{filename}`, answered with the commit (`X-Repo-Commit`),
the blob's `ETag` and its `Content-Length`, then `GET` of the same URL for the bytes. A missing
file is a 404 with `X-Error-Code: EntryNotFound` (which it caches as "does not exist"), an
unknown repo a 404 with `RepoNotFound`, an unknown revision `RevisionNotFound`.
"""

import hashlib
import http.server
import pathlib
import threading


class HubServer:
    """Serves `{repo_id: folder}` at revision `main` and at commit `commit` on 127.0.0.1.

    Use as a context manager; `endpoint` is what `HF_ENDPOINT` should be, `requests` the
    `(method, path)` of every request so far.
    """

    def __init__(self, repos: dict, commit: str):
        self.repos = {repo_id: pathlib.Path(folder) for repo_id, folder in repos.items()}
        self.commit = commit
        self.requests = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):
                self._answer(with_body=False)

            def do_GET(self):
                self._answer(with_body=True)

            def _answer(self, with_body):
                hub.requests.append((self.command, self.path))
                status, headers, body = hub.respond(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, path):
        """`(status, headers, body)` for a request path."""
        repo_part, _, rest = path.partition("/resolve/")
        repo_id = repo_part.strip("/")
        if repo_id not in self.repos:
            return 404, {"X-Error-Code": "RepoNotFound"}, b"Repository not found"
        revision, _, filename = rest.partition("/")
        if revision not in ("main", self.commit):
            return 404, {"X-Error-Code": "RevisionNotFound"}, b"Revision not found"
        file = self.repos[repo_id] / filename
        if not file.is_file():
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.commit}, b"Entry not found"
        body = file.read_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        return 200, {"X-Repo-Commit": self.commit, "ETag": etag}, body

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *args):
        self._server.shutdown()
        self._server.server_close()
