// FaceGate console: a form sent once until the page changes, webcam capture into the photo field, and the
// live refresh of the events table.
"use strict";

// A form once submitted sends nothing more until the page changes: a second click (or Enter) while the
// first sending's answer is on its way would send it again, and the browser shows the answer to the last
// sending. The server's one-time form_key makes the change once, but that answer is "sent again": the
// Keys page's would not show the new key's secret, shown on the first answer only. Forms answered by a
// download (data-download) leave the page as it is, so their buttons are never disabled.
function isSubmitButton(control) {
  return (control instanceof HTMLButtonElement || control instanceof HTMLInputElement) &&
    control.type === "submit";
}

function sendOnce(event) {
  const form = event.target;
  if (event.defaultPrevented || form.method !== "post" || "download" in form.dataset) return;
  if ("sent" in form.dataset) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "";
  // After the browser has read the form: a disabled submitter's name and value would not be sent.
  setTimeout(() => {
    for (const control of form.elements) {
      if (isSubmitButton(control)) control.disabled = true;
    }
  });
}

function sendableAgain() {
  document.querySelectorAll("form[data-sent]").forEach((form) => {
    delete form.dataset.sent;
    for (const control of form.elements) {
      if (isSubmitButton(control)) control.disabled = false;
    }
  });
}

document.addEventListener("submit", sendOnce);
// Back to this page from the browser's cache: it was left by a sending, and may send again.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) sendableAgain();
});
// The sending's page never came and this one stays: Esc or the Stop button while the answer was on its way
// (the server may have made the change; the one-time form_key answers the form sent again). The navigation
// API says so (navigateerror, an AbortError); a browser without it keeps the buttons disabled until the
// page is reloaded, as before.
if (window.navigation) window.navigation.addEventListener("navigateerror", sendableAgain);

function setUpCamera(box) {
  const form = box.closest("form");
  const input = form.querySelector("[data-photo-input]");
  const video = box.querySelector("[data-camera-video]");
  const take = box.querySelector("[data-camera-take]");
  const shots = box.querySelector("[data-camera-shots]");
  const cameraFiles = [];
  box.hidden = false;
  box.querySelector("[data-camera-start]").addEventListener("click", async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 } });
    } catch (error) {
      shots.textContent = "The camera is not available: " + error.message;
      return;
    }
    video.hidden = false;
    await video.play();
    take.hidden = false;  // only once frames arrive: a capture before that would be an empty canvas
  });
  take.addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob) {
        shots.textContent = "The camera gave no picture; try again.";
        return;
      }
      const file = new File([blob], "camera-" + (cameraFiles.length + 1) + ".jpg", { type: "image/jpeg" });
      cameraFiles.push(file);
      const all = new DataTransfer();
      for (const chosen of input.files) {
        if (!chosen.name.startsWith("camera-")) all.items.add(chosen);
      }
      cameraFiles.forEach((shot) => all.items.add(shot));
      input.files = all.files;
      const item = document.createElement("li");
      const image = document.createElement("img");
      image.src = URL.createObjectURL(blob);
      image.alt = file.name;
      item.append(image);
      shots.append(item);
    }, "image/jpeg", 0.92);
  });
}

const LIVE_PROBLEMS = {
  // The API's status word of a 5xx (the console's error page carries it as data-error-status).
  database_unavailable: {
    text: "Live updates paused: the server cannot reach its database; retrying.",
    isRetried: true,
  },
  commit_unconfirmed: {  // this refresh only reads: the next one is safe
    text: "Live updates paused: the server lost its database connection while answering; retrying.",
    isRetried: true,
  },
  schema_missing: {  // no wait helps: an operator must act
    text: "Live updates stopped: the server's database lacks its schema; an operator must run " +
      "\"facegate init\". Reload this page once that is done.",
    isRetried: false,
  },
};

async function serverProblem(response) {
  // Any other 5xx (a bug's 500, a proxy's 502 or 504) may be a passing state: say what came, keep trying.
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const word = page.querySelector("[data-error-status]")?.dataset.errorStatus;
  if (word && Object.hasOwn(LIVE_PROBLEMS, word)) return LIVE_PROBLEMS[word];
  return { text: "Live updates paused: the server answered " + response.status + "; retrying.", isRetried: true };
}

function setUpLiveEvents(body) {
  const status = document.querySelector("[data-live-status]");
  async function refresh() {
    try {
      const response = await fetch(body.dataset.liveUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.status >= 500) {  // the server's own trouble, not the session's: keep the page
        const problem = await serverProblem(response);
        if (status) status.textContent = problem.text;
        if (!problem.isRetried) clearInterval(timer);
        return;
      }
      if (response.redirected || !response.ok) {
        window.location.assign("/ui/login");
        return;
      }
      const rows = await response.text();
      if (rows !== body.dataset.lastRows) {
        body.innerHTML = rows;  // server-rendered and escaped by the template
        body.dataset.lastRows = rows;
      }
      if (status) status.textContent = "Updates live; checked " + new Date().toLocaleTimeString() + ".";
    } catch (error) {
      if (status) status.textContent = "Live updates paused: " + error.message;
    }
  }
  const timer = setInterval(refresh, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.DataTransfer) {
    document.querySelectorAll("[data-camera]").forEach(setUpCamera);
  }
  const live = document.querySelector("[data-live-url]");
  if (live) setUpLiveEvents(live);
});
