"""The parts of serve.py's web server: the HTML pages (`pages`), the checks on what a request sends
(`request_fields`) and the reading and writing of each request (`exchange`), the limits on connections and on
how long a request may take to arrive (`connections`), the encoder processes that run the model
(`encoder_process`), their supervision (`supervision`) and the batchers that gather requests for them
(`batching`), a batch's sentences packed into one row (`packing`), the sentence index behind the Search page
(`search_index`) and how its rows are held and scanned (`index_rows`), the occlusion that explains a verdict
(`occlusion`), and the check that an answer is a number (`outputs`). Only serve.py, the tests and the
benchmarks use them."""
