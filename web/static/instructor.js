// instructor.js runs the instructor page (/instructor): it creates a workshop room with the
// instructor's token (POST /api/rooms, the token in the Authorization header, never in a URL the
// server logs) and shows the room's code, the participants' link and the instructor's own link.
// A file of its own: the page's Content-Security-Policy forbids inline scripts.
(function () {
	var $ = function (id) { return document.getElementById(id); };
	var token = $("instructor-token"), create = $("room-create"), status = $("instructor-status");
	var q = new URLSearchParams(location.search);
	if (q.get("token")) {
		token.value = q.get("token");
		q.delete("token"); // out of the address bar and the history
		history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
	}
	document.addEventListener("submit", function (e) { e.preventDefault(); }, true);
	token.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); go(); } });
	create.addEventListener("click", go);
	function go() {
		var t = token.value.trim();
		if (!t) { status.textContent = "Type the instructor token first (the server's --instructor-token)."; token.focus(); return; }
		create.disabled = true;
		status.textContent = "creating a room…";
		fetch("/api/rooms", { method: "POST", headers: { "Authorization": "Bearer " + t } })
			.then(function (r) {
				return r.text().then(function (body) {
					if (r.status === 201) { return JSON.parse(body); }
					var why = body.trim() || r.statusText;
					if (r.status === 401) { why = "the server refused the token (" + why + ")"; }
					if (r.status === 404) { why = "rooms are off on this server (" + why + ")"; }
					throw new Error(why);
				});
			})
			.then(function (room) {
				create.disabled = false;
				$("room-code").textContent = room.code;
				var url = new URL(room.url, location.href).href, inst = new URL(room.instructor_url, location.href).href;
				$("room-url").textContent = url;
				$("room-url").href = url;
				$("room-instructor-url").href = inst;
				$("instructor-room").hidden = false;
				status.textContent = "Room " + room.code + " is ready: give the participants its link, then open yours.";
			})
			.catch(function (err) {
				create.disabled = false;
				status.textContent = "Could not create a room: " + err.message;
			});
	}
})();
