// boot.js starts the page's Go-WebAssembly client (the URL in this script's data-wasm, which
// carries its version) with Go's loader, wasm_exec.js, loaded before it. It is a file of its own,
// not an inline script, so that the page's Content-Security-Policy can forbid inline scripts.
(function (wasm) {
	// The page's forms are not submitted: the client reads them (Enter sends a message). The
	// one with an action of its own (a room's code, GET /join) goes where it says.
	document.addEventListener("submit", function (e) {
		if (!e.target.hasAttribute("action")) { e.preventDefault(); }
	}, true);
	var go = new Go();
	WebAssembly.instantiateStreaming(fetch(wasm), go.importObject)
		.then(function (r) { go.run(r.instance); })
		.catch(function (err) {
			var s = document.getElementById("status");
			s.dataset.state = "error";
			document.getElementById("status-text").textContent = "client failed to load: " + err;
		});
})(document.currentScript.dataset.wasm);
