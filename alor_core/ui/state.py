"""Every ``st.session_state`` key of the dashboard, prefixed by the page that owns it.

Session state is lost on a browser refresh, so it only points at the on-disk session (a path)
and holds view settings; labels, picks and results always live in the session folder.
"""

# app.py: the session every page shows (a session folder path)
APP_SESSION = "app.session"
APP_GOTO = "app.goto"  # page that asked app.py to open it (see widgets.require_app)
APP_PICKER = "app.session_picker"
# URL query parameters (a refresh keeps them; each browser tab has its own)
URL_SESSION = "session"  # the current session, relative to the output folder
URL_LABELER = "labeler"  # the labeler id of the Label queue

# Home
HOME_BUILD = "home.build_world"
HOME_QUICK = "home.quick_run"

# Run
RUN_DATA_KIND = "run.data_kind"
RUN_DATA_PATH = "run.data_path"
RUN_MODEL_KIND = "run.model_kind"
RUN_MODEL_NAME = "run.model_name"
RUN_PRETRAINED = "run.pretrained"
RUN_CHECKPOINT = "run.checkpoint"
RUN_STRATEGY = "run.strategy"
RUN_ADAPT = "run.adaptation"
RUN_ROUNDS = "run.rounds"
RUN_BUDGET = "run.budget"
RUN_SEEDS = "run.seeds"
RUN_RDA = "run.rda"
RUN_K = "run.k"
RUN_MODE = "run.mode"
RUN_INITIAL = "run.initial"
RUN_PRESET = "run.preset"
RUN_PROTOCOL = "run.protocol"
RUN_WEIGHT = "run.labeled_weight"
RUN_SOURCE = "run.retrieval_source"
RUN_RETRIEVAL_MODE = "run.retrieval_mode"
RUN_BACKEND = "run.retrieval_backend"
RUN_SPARK_MASTER = "run.spark_master"
RUN_KNN_THRESHOLD = "run.knn_threshold"
RUN_MIN_SIDE = "run.min_side"
RUN_LEAKAGE = "run.leakage_guard"
RUN_NAME = "run.name"
RUN_START = "run.start"
RUN_FLASH = "run.flash"  # message shown once after a rerun
RUN_OPEN_PICK = "run.open_pick"
RUN_OPEN = "run.open"
RUN_RAW_LOG = "run.raw_log"  # + run folder name: show the raw log
RUN_ALIVE = "run.jobs_seen"  # (any job alive, (session, state) pairs) at the last refresh

# Retrieval & bias
RETRIEVAL_VALUE = "retrieval.value"
RETRIEVAL_LOG = "retrieval.log"
RETRIEVAL_CLASS = "retrieval.class"
RETRIEVAL_N = "retrieval.n_images"
RETRIEVAL_BENCH = "retrieval.benchmark"
RETRIEVAL_BENCH_END = "retrieval.benchmark_end"  # top / bottom window
RETRIEVAL_BENCH_N = "retrieval.benchmark_n"
RETRIEVAL_BENCH_QUERY = "retrieval.benchmark_query"

# Label queue
LABEL_CURSOR = "label.cursor"  # sample id on screen
LABEL_HISTORY = "label.history"  # [(session path, round, sample_id, "label" | "skip", label)] for undo
LABEL_AUTO = "label.auto_advance"
LABEL_GUESS = "label.guess"  # + index 0..2: the top-3 buttons
LABEL_OTHER = "label.other"  # + sample id: the full class list
LABEL_SKIP = "label.skip"
LABEL_UNDO = "label.undo"
LABEL_PREV = "label.prev"
LABEL_NEXT = "label.next"
LABEL_CONTINUE = "label.continue"
LABEL_LIVE = "label.follow_others"  # refresh the queue when other labelers save
LABEL_SHOWN = "label.shown"  # (session path, round, sample id, state) on screen at the last run
LABEL_CONFLICT = "label.conflict"  # the conflict to resolve: someone else labeled the pick differently
LABEL_FLASH = "label.flash"  # a message shown once after a rerun
LABEL_OVERWRITE = "label.overwrite"  # conflict box: overwrite with my label
LABEL_KEEP = "label.keep"  # conflict box: keep the first label
LABEL_ID = "label.labeler"  # this browser session's labeler id (also in the URL: ?labeler=...)
LABEL_GUESSES = "label.show_guesses"  # list the model's guesses (off: blind labeling)
LABEL_ZOOM = "label.zoom"  # open the pick at full resolution
LABEL_IMAGE = "label.image"  # the pick's image: a click zooms (ui/clickable.py)
LABEL_TRAIN_NOW = "label.train_now"  # skip the picks left and train the next round now
LABEL_STARTED = "label.started"  # (session path, round) whose next round this browser session started
LABEL_NAV = "label.navigated"  # the cursor was moved by Prev/Next (stay even on a claimed pick)
LABEL_RENEWED = "label.claim_renewed"  # (claim key, time) of the last renewal of the claim on screen

# Results
RESULTS_RUNS = "results.runs"
RESULTS_METRIC = "results.metric"
RESULTS_X = "results.x"
RESULTS_HEATMAP = "results.heatmap_session"
RESULTS_VIEW = "results.view"
RESULTS_REPORT = "results.report"

# Embedding map
MAP_ROUND = "map.round"
MAP_SOURCES = "map.sources"
MAP_COLOR = "map.color_by"
MAP_MAX = "map.max_points"
MAP_CHART = "map.selection"  # the chart's selection state
MAP_HOVER = "map.hover"  # hover view: thumbnails on hover (ui/hover_map.py)
MAP_HOVER_VIEW = "map.hover_view"  # the hover view's component
MAP_HOVER_PICK = "map.hover_pick"  # (session, round, sample id) clicked in the hover view
MAP_LAYOUT = "map.layout"  # "umap" or "pca"

# Guided demo
GUIDED_RUN = "guided.run"
