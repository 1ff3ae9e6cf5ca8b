// The demo page: stream speech from /ws/tts/ and play each chunk, gapless, as it arrives.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // The protocol's close and error codes, from the server (synthesis/views.py).
  const {close_codes: CLOSE, error_codes: CODE} = JSON.parse($("tts-protocol").textContent);
  const form = $("speak-form");
  const inputs = {
    text: $("text"), voice: $("voice"), speed: $("speed"), sample_rate: $("sample-rate"),
    timeout: $("timeout"),
  };
  // How this page proves it may connect: "none" (keys are off), "staff" (a logged-in staff
  // user: a short-lived token from the server) or "key" (an API key typed in, kept in the tab).
  const auth = form.dataset.auth;
  const keyInput = $("api-key");
  if (keyInput) {
    inputs["api-key"] = keyInput;
    keyInput.value = sessionStorage.getItem("tts-api-key") || "";
  }
  const speakButton = $("speak");
  const stopButton = $("stop");
  const download = $("download");

  // Errors a person can act on, shown next to the control at fault.
  const MESSAGES = {
    [CODE.VOICE_NOT_FOUND]: "This voice is no longer available. The list has been refreshed; pick another.",
    [CODE.TEXT_TOO_LONG]: "The text is too long for one request. Shorten it or split it.",
    [CODE.SERVER_BUSY]: "The server is busy right now. Try again in a moment.",
    [CODE.SYNTHESIS_FAILED]: "The voice could not speak this text. Try again, or try other text.",
    [CODE.TOO_MANY_CONCURRENT_REQUESTS]: "Wait for the current speech to finish, or press Stop.",
    [CODE.TOO_MANY_REQUESTS]: "This key has started too many requests this minute. Wait a little.",
    [CODE.TOO_MANY_CONNECTIONS]: "This key has too many connections open. Close another tab or client.",
    [CODE.MESSAGE_TOO_LARGE]: "The text is too long for one message. Shorten it or split it.",
    [CODE.BUFFER_FULL]: "Too much text without a sentence end. Press Enter to speak it.",
    [CODE.ORIGIN_NOT_ALLOWED]: "This page may not use the server from here. Open it from the server.",
    [CODE.INVALID_JSON]: "The page sent something the server could not read. Reload the page.",
  };
  const UNAUTHORIZED = {
    key: "The server did not accept this API key. Check it, or ask for a new one.",
    staff: "Your sign-in has expired. Log in again, then reload the page.",
  };
  // The control for each message field the server may name in an error (`field`)...
  const INPUT_OF_FIELD = {
    text: "text", voice_id: "voice", speed: "speed", sample_rate: "sample_rate", timeout: "timeout",
  };
  // ...and for the errors that name none but are about one.
  const FIELD_OF_CODE = {
    [CODE.TEXT_TOO_LONG]: "text", [CODE.MESSAGE_TOO_LARGE]: "text", [CODE.BUFFER_FULL]: "text",
    [CODE.UNAUTHORIZED]: auth === "key" ? "api-key" : "general",
    missing_key: "api-key",  // the page's own: Speak with no key typed in
  };

  // What the browser tests read: what arrived, what was scheduled, what is playing, what was shown.
  const demo = window.ttsDemo = {log: [], schedule: [], received: 0, playing: 0, errors: [], closes: []};

  let audio = null;           // the AudioContext, created on the first Speak (a user gesture)
  let socket = null;
  let socketTimeout = null;   // the timeout the open socket was opened with
  let idleSince = null;       // when the server's idle clock last restarted, as far as we know
  let request = null;         // the request being spoken

  function fieldOf(error) {
    return INPUT_OF_FIELD[error.field] || FIELD_OF_CODE[error.code] || "general";
  }

  function showError(error) {
    const field = fieldOf(error);
    const words = error.code === CODE.UNAUTHORIZED ? UNAUTHORIZED[auth] : MESSAGES[error.code];
    $(`${field}-error`).textContent = words || error.message;
    if (inputs[field]) {
      inputs[field].setAttribute("aria-invalid", "true");
      inputs[field].focus();
    }
    demo.errors.push({...error, field});
  }

  function clearErrors() {
    for (const element of document.querySelectorAll(".error")) {
      element.textContent = "";
    }
    for (const input of Object.values(inputs)) {
      input.removeAttribute("aria-invalid");
    }
  }

  async function loadVoices() {
    const chosen = inputs.voice.value;
    try {
      const response = await fetch("/api/voices/");
      const {voices} = await response.json();
      inputs.voice.replaceChildren(...voices.map((voice) => {
        const option = new Option(`${voice.name} (${voice.language})`, voice.voice_id);
        option.selected = voice.voice_id === chosen;
        return option;
      }));
      if (!voices.length) {
        inputs.voice.replaceChildren(new Option("No voices yet: add one in the admin", ""));
      }
    } catch (error) {
      $("voice-error").textContent = "The voices could not be loaded. Is the server running?";
    }
  }

  // The `token` query parameter this page connects with, or "" when keys are off.
  async function token() {
    if (auth === "staff") {
      const response = await fetch("/api/page-token/", {credentials: "same-origin"});
      if (!response.ok) {
        throw {code: "unauthorized", message: UNAUTHORIZED.staff};
      }
      return (await response.json()).token;
    }
    if (auth === "key") {
      const key = keyInput.value.trim();
      if (!key) {
        throw {code: "missing_key", message: "Paste an API key first."};
      }
      sessionStorage.setItem("tts-api-key", key);
      return key;
    }
    return "";
  }

  async function connect() {
    const timeout = inputs.timeout.value.trim();
    if (socket && socket.readyState === WebSocket.OPEN && socketTimeout === timeout) {
      return socket;
    }
    if (socket) {
      socket.close(1000);
    }
    let credential;
    try {
      credential = await token();
    } catch (error) {
      showError({...error, message: error.message || String(error)});
      throw error;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}/ws/tts/?timeout=${encodeURIComponent(timeout)}`;
    if (credential) {
      url += `&token=${encodeURIComponent(credential)}`;
    }
    setConnection("connecting", "Connecting…");
    return new Promise((resolve, reject) => {
      const opened = new WebSocket(url);
      socket = opened;
      socketTimeout = timeout;
      opened.onopen = () => {
        idleSince = performance.now();
        resolve(opened);
      };
      opened.onmessage = (event) => receive(JSON.parse(event.data));
      opened.onclose = (event) => {
        closed(opened, event);
        reject(new Error("closed"));
      };
    });
  }

  function closed(closedSocket, event) {
    if (closedSocket !== socket) {
      return;  // an older socket we replaced
    }
    socket = null;
    demo.closes.push(event.code);
    finish();
    if (event.code === CLOSE.IDLE) {
      setConnection("closed", `Closed after ${socketTimeout} seconds without activity. ` +
        "Press Speak or Reconnect to open it again.");
      $("reconnect").hidden = false;
    } else if (event.code === CLOSE.BAD_PARAMETERS) {
      setConnection("closed", "The server refused the connection settings.");
    } else if (event.code === CLOSE.UNAUTHORIZED) {
      setConnection("closed", "Not connected: the server needs a valid API key.");
    } else if (event.code === CLOSE.FORBIDDEN_ORIGIN || event.code === CLOSE.TOO_MANY_CONNECTIONS) {
      setConnection("closed", "The server refused the connection.");
    } else {
      setConnection("closed", "Not connected");
    }
  }

  function setConnection(state, words) {
    $("connection").textContent = words;
    $("connection-dot").dataset.state = state;
  }

  function receive(message) {
    demo.log.push({status: message.status, request_id: message.request_id, code: message.code});
    if (message.status === "error" && !message.request_id) {
      if (message.code !== CODE.TIMEOUT) {
        showError(message);  // e.g. invalid_timeout, before the socket closes
      }
      return;
    }
    if (!request || message.request_id !== request.id) {
      return;  // a request that was stopped
    }
    if (message.status === "chunk") {
      play(message.data);
    } else if (message.status === "complete") {
      figures(performance.now());
      offerDownload();
      finish();
    } else if (message.status === "error") {
      showError(message);
      if (message.code === CODE.VOICE_NOT_FOUND) {
        loadVoices();
      }
      finish();
    } else if (message.status === "cancelled") {
      finish();
    }
  }

  function decode(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    const samples = new Float32Array(bytes.length / 2);
    for (let i = 0; i < samples.length; i++) {
      samples[i] = view.getInt16(i * 2, true) / 32768;
    }
    return {bytes, samples};
  }

  function play(data) {
    const now = performance.now();
    request.firstAt = request.firstAt || now;
    const {bytes, samples} = decode(data.audio);
    request.pcm.push(bytes);
    request.samples += samples.length;
    request.rate = data.sample_rate;
    request.chunks += 1;
    demo.received += 1;
    if (samples.length) {
      const buffer = audio.createBuffer(1, samples.length, data.sample_rate);
      buffer.copyToChannel(samples, 0);
      const source = audio.createBufferSource();
      source.buffer = buffer;
      source.connect(audio.destination);
      // Right after the previous chunk; the first one a moment from now, so it starts whole.
      const start = Math.max(request.nextStart, audio.currentTime + 0.05);
      source.start(start);
      demo.playing += 1;
      source.onended = () => { demo.playing -= 1; };
      request.nextStart = start + buffer.duration;
      request.sources.push(source);
      demo.schedule.push({request: request.id, sequence: data.sequence, start, end: request.nextStart});
    }
    figures(now);
  }

  function figures(now) {
    const seconds = request.samples / request.rate;
    $("ttfa").textContent = request.firstAt ? `${Math.round(request.firstAt - request.sentAt)} ms` : "–";
    $("chunks").textContent = String(request.chunks);
    $("audio-seconds").textContent = `${seconds.toFixed(1)} s`;
    $("rtf").textContent = seconds ? ((now - request.sentAt) / 1000 / seconds).toFixed(3) : "–";
  }

  function offerDownload() {
    const header = new DataView(new ArrayBuffer(44));
    const dataBytes = request.samples * 2;
    const text = (offset, value) => [...value].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
    text(0, "RIFF");
    header.setUint32(4, 36 + dataBytes, true);
    text(8, "WAVEfmt ");
    header.setUint32(16, 16, true);
    header.setUint16(20, 1, true);  // PCM
    header.setUint16(22, 1, true);  // mono
    header.setUint32(24, request.rate, true);
    header.setUint32(28, request.rate * 2, true);
    header.setUint16(32, 2, true);
    header.setUint16(34, 16, true);
    text(36, "data");
    header.setUint32(40, dataBytes, true);
    if (download.href) {
      URL.revokeObjectURL(download.href);
    }
    download.href = URL.createObjectURL(new Blob([header, ...request.pcm], {type: "audio/wav"}));
    download.hidden = false;
  }

  function finish() {
    if (request) {
      request.done = true;
    }
    idleSince = performance.now();
    speakButton.disabled = false;
    stopButton.disabled = true;
    tick();  // show the idle countdown now, not at the next tick
  }

  async function speak(event) {
    event.preventDefault();
    clearErrors();
    if (!inputs.text.value.trim()) {
      $("text-error").textContent = "Type something to speak.";
      inputs.text.setAttribute("aria-invalid", "true");
      inputs.text.focus();
      return;
    }
    await begin(inputs.text.value);
  }

  // Start a new request with `text`; `more` adds the streaming flags of the live mode.
  async function begin(text, more = {}) {
    audio = audio || new AudioContext();
    await audio.resume();
    stop(false);
    speakButton.disabled = true;
    $("reconnect").hidden = true;
    let open;
    try {
      open = await connect();
    } catch (error) {
      finish();
      return false;
    }
    request = {
      id: crypto.randomUUID().replaceAll("-", ""), sentAt: performance.now(), firstAt: null,
      chunks: 0, samples: 0, rate: Number(inputs.sample_rate.value), pcm: [], sources: [],
      nextStart: 0, done: false, live: Boolean(more.continue),
    };
    figures(request.sentAt);
    download.hidden = true;
    open.send(JSON.stringify({
      text,
      voice_id: inputs.voice.value,
      request_id: request.id,
      speed: Number(inputs.speed.value),
      sample_rate: Number(inputs.sample_rate.value),
      ...more,
    }));
    idleSince = performance.now();
    stopButton.disabled = false;
    return true;
  }

  // "Speak as I type": each finished word goes to the server as more text of one open
  // request (continue: true), the way a language model's reply arrives; Enter ends it.
  const live = {sent: "", starting: null};

  function liveOpen() {
    return request && request.live && !request.done && socket && socket.readyState === WebSocket.OPEN;
  }

  async function typed() {
    if (!$("live").checked || live.starting) {
      return;
    }
    const value = inputs.text.value;
    if (liveOpen() && !value.startsWith(live.sent)) {
      stop();  // earlier text was edited: start over with what is there now
      live.sent = "";
    }
    const more = value.slice(live.sent.length);
    if (!more.trim() || !/[\s.,!?;:]$/.test(more)) {
      return;  // wait for the word to end
    }
    live.sent = value;
    if (liveOpen()) {
      socket.send(JSON.stringify({text: more, request_id: request.id, continue: true}));
      idleSince = performance.now();
    } else {
      clearErrors();
      live.starting = begin(value, {continue: true});
      await live.starting;
      live.starting = null;
    }
  }

  function endLive() {
    if (liveOpen()) {
      const rest = inputs.text.value.slice(live.sent.length);
      socket.send(JSON.stringify({text: rest, request_id: request.id, flush: true, continue: false}));
      idleSince = performance.now();
    }
    live.sent = "";
    inputs.text.value = "";
  }

  // Silence at once; tell the server to stop too, if the request is still going.
  function stop(cancel = true) {
    if (!request) {
      return;
    }
    for (const source of request.sources) {
      source.stop();
    }
    request.sources = [];
    if (cancel && !request.done && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({type: "cancel", request_id: request.id}));
      idleSince = performance.now();
    }
    finish();
    request = null;
  }

  function tick() {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return;
    }
    if (request && !request.done) {
      setConnection("busy", "Connected · speaking");
      return;
    }
    const left = Math.max(0, Number(socketTimeout) - (performance.now() - idleSince) / 1000);
    setConnection("open", `Connected · closes in ${Math.ceil(left)} s if idle`);
  }

  form.addEventListener("submit", speak);
  inputs.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && $("live").checked && !event.shiftKey) {
      event.preventDefault();
      endLive();  // in the live mode Enter ends the reply, like sending a chat message
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      form.requestSubmit();  // Ctrl+Enter speaks, Enter still starts a new line
    }
  });
  inputs.text.addEventListener("input", typed);
  $("live").addEventListener("change", () => {
    live.sent = "";
    $("live-hint").hidden = !$("live").checked;
  });
  stopButton.addEventListener("click", () => stop());
  if (keyInput) {
    keyInput.addEventListener("change", () => {
      if (socket) {
        socket.close(1000);  // the next Speak connects with the new key
      }
    });
  }
  $("reconnect").addEventListener("click", () => {
    $("reconnect").hidden = true;
    connect().catch(() => {});
  });
  inputs.speed.addEventListener("input", () => {
    $("speed-value").textContent = `${Number(inputs.speed.value).toFixed(1)}×`;
  });
  setInterval(tick, 250);
  loadVoices();
})();
