// The review board's little script: play clips on hover or tap, vote without a reload, live tallies
// (server-sent events), reveal flagged clips, copy a recipe, play compared clips in step. Every page
// works without it; it only makes them quicker to use.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";

  function play(media) {
    if (media.dataset.playing) return;
    media.dataset.playing = "1";
    const img = media.querySelector("img");
    media.dataset.poster = img.src;
    if (media.dataset.type === "video/mp4") {
      const video = document.createElement("video");
      Object.assign(video, { src: media.dataset.clip, muted: true, loop: true, autoplay: true, playsInline: true });
      img.replaceWith(video);
    } else {
      img.src = media.dataset.clip;
    }
  }

  function stop(media) {
    if (!media.dataset.playing) return;
    delete media.dataset.playing;
    const video = media.querySelector("video");
    if (video) {
      const img = document.createElement("img");
      img.src = media.dataset.poster;
      video.replaceWith(img);
    } else {
      media.querySelector("img").src = media.dataset.poster;
    }
  }

  document.querySelectorAll(".card .media").forEach(function (media) {
    media.addEventListener("mouseenter", function () { play(media); });
    media.addEventListener("mouseleave", function () { stop(media); });
    media.addEventListener("click", function (e) {  // a tap on a phone, where there is no hover
      if (e.target.classList.contains("reveal")) return;
      media.dataset.playing ? stop(media) : play(media);
    });
  });

  document.addEventListener("click", function (e) {
    const t = e.target;
    if (t.classList.contains("reveal")) {
      t.closest(".spoiler").classList.add("revealed");
    } else if (t.classList.contains("copy")) {
      const text = document.getElementById(t.dataset.copy).textContent;
      navigator.clipboard.writeText(text).then(function () { t.textContent = "Copied"; });
    } else if (t.classList.contains("select-all")) {
      document.querySelectorAll('input[form="' + t.dataset.form + '"]').forEach(function (box) { box.checked = true; });
    } else if (t.id === "play-together") {
      restartTogether();
    }
  });

  function showTally(change) {
    document.querySelectorAll('[data-tally="' + change.job_id + '"]').forEach(function (el) {
      el.querySelector(".up b").textContent = change.approvals;
      el.querySelector(".down b").textContent = change.rejections;
    });
  }

  document.querySelectorAll("form.vote").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      const value = e.submitter ? e.submitter.value : "approve";
      const body = new URLSearchParams({ value: value });
      fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (change) {
        if (!change) return;
        showTally(change);
        form.querySelectorAll("button").forEach(function (b) { b.classList.toggle("mine", b.value === value); });
      });
    });
  });

  if (csrf && window.EventSource && document.querySelector("[data-tally]")) {
    const source = new EventSource("/events");
    source.addEventListener("tally", function (e) { showTally(JSON.parse(e.data)); });
  }

  // Compare: every clip restarts at once; videos are kept within a frame of the first one.
  function restartTogether() {
    const items = document.querySelectorAll(".sync");
    const stamp = Date.now();
    items.forEach(function (el) {
      if (el.tagName === "VIDEO") { el.currentTime = 0; el.play(); }
      else { el.src = el.src.split("?")[0] + "?start=" + stamp; }
    });
  }
  const videos = Array.prototype.filter.call(document.querySelectorAll(".sync"), function (el) { return el.tagName === "VIDEO"; });
  if (videos.length > 1) {
    videos[0].addEventListener("timeupdate", function () {
      videos.slice(1).forEach(function (v) {
        if (Math.abs(v.currentTime - videos[0].currentTime) > 0.1) v.currentTime = videos[0].currentTime;
      });
    });
  }
})();
