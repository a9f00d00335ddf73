# A Flask app with prometheus_client in multiprocess mode and no hooks at all: `run` gives it the
# directory (PROMETHEUS_MULTIPROC_DIR) and serves the metrics. Each request counts once.
from flask import Flask
from prometheus_client import Counter

app = Flask(__name__)
REQUESTS = Counter('app_requests', 'Requests served.', ['path'])


@app.route('/work')
def work():
    REQUESTS.labels('/work').inc()
    return 'ok\n'
