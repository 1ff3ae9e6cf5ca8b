// The demo page: stream speech from /ws/tts/, play each chunk gapless as it arrives, and light
// each word of the text as it is heard.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // The protocol's close and error codes, from the server (synthesis/views.py).
  const {
    close_codes: CLOSE, error_codes: CODE, default_voice_names: DEFAULT_VOICE_NAMES,
  } = JSON.parse($("tts-protocol").textContent);
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

  // What the browser tests read: what arrived, what was scheduled, what is playing, what was
  // shown, and each word as it was lit (on the audio clock: when, and when the word starts).
  const demo = window.ttsDemo = {
    log: [], schedule: [], received: 0, playing: 0, errors: [], closes: [], highlights: [],
  };

  // The waveform's resolution: one bar value per this many seconds of audio.
  const PEAK_SECONDS = 0.02;
  // A lit word stays lit through the short gaps between words, and goes out in a pause.
  const PAUSE_SECONDS = 0.25;

  let audio = null;           // the AudioContext, created on the first Speak (a user gesture)
  let socket = null;
  let socketTimeout = null;   // the timeout the open socket was opened with
  let idleSince = null;       // when the server's idle clock last restarted, as far as we know
  let request = null;         // the latest request; it is `settled` once its last audio has played

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
      // Keep the voice picked before; else the one clients get when they name none.
      const preferred = voices.find((voice) => voice.voice_id === chosen) ||
        DEFAULT_VOICE_NAMES.map((name) => voices.find(
          (voice) => voice.voice_id === name || voice.aliases.includes(name),
        )).find(Boolean) ||
        voices[0];
      inputs.voice.replaceChildren(...voices.map((voice) => {
        const option = new Option(`${voice.name} (${voice.language})`, voice.voice_id);
        option.selected = voice === preferred;
        return option;
      }));
      if (!voices.length) {
        inputs.voice.replaceChildren(new Option("No voices yet: add one in the admin", ""));
      }
      inputs.voice.dispatchEvent(new Event("change"));  // the client code shows the voice
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
    if (request && !request.settled) {
      answered(request);  // the audio already here still plays out
    }
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
    const req = request;
    if (!req || message.request_id !== req.id || req.settled) {
      return;  // a request that was stopped
    }
    if (message.status === "chunk") {
      play(req, message.data);
    } else if (message.status === "word_timestamp") {
      addWord(req, message.data);
    } else if (message.status === "complete") {
      req.complete = true;
      figures(req, performance.now());
      offerDownload(req);
      answered(req);
    } else if (message.status === "error") {
      showError(message);
      if (message.code === CODE.VOICE_NOT_FOUND) {
        loadVoices();
      }
      answered(req);
    } else if (message.status === "cancelled") {
      answered(req);
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

  function play(req, data) {
    const now = performance.now();
    req.firstAt = req.firstAt || now;
    const {bytes, samples} = decode(data.audio);
    req.pcm.push(bytes);
    req.rate = data.sample_rate;
    req.chunks += 1;
    demo.received += 1;
    if (samples.length) {
      const buffer = audio.createBuffer(1, samples.length, data.sample_rate);
      buffer.copyToChannel(samples, 0);
      const source = audio.createBufferSource();
      source.buffer = buffer;
      source.connect(audio.destination);
      // Right after the previous chunk; the first one a moment from now, so it starts whole.
      const start = Math.max(req.nextStart, audio.currentTime + 0.05);
      source.start(start);
      demo.playing += 1;
      req.playing += 1;
      source.onended = () => {
        demo.playing -= 1;
        req.playing -= 1;
        settleIfOver(req);
      };
      // Where this chunk's audio lies in the request's audio, and on the audio clock: a word's
      // time (seconds into the request's audio) is heard at its chunk's start plus the rest.
      req.timeline.push({offset: req.samples / data.sample_rate, start, duration: buffer.duration});
      req.nextStart = start + buffer.duration;
      req.sources.push(source);
      addPeaks(req, samples);
      demo.schedule.push({request: req.id, sequence: data.sequence, start, end: req.nextStart});
    }
    req.samples += samples.length;
    figures(req, now);
    animate();
  }

  // When `seconds` into the request's audio is heard, on the audio clock.
  function clockTime(req, seconds) {
    for (let i = req.timeline.length - 1; i > 0; i--) {
      if (seconds >= req.timeline[i].offset) {
        return req.timeline[i].start + seconds - req.timeline[i].offset;
      }
    }
    return req.timeline.length ? req.timeline[0].start + seconds : Infinity;
  }

  // What the listener hears now, on the audio clock: what is rendered, less the output's delay.
  function heardTime() {
    return audio.currentTime - (audio.outputLatency || 0);
  }

  function addPeaks(req, samples) {
    const size = Math.round(req.rate * PEAK_SECONDS);
    for (const sample of samples) {
      req.peak = Math.max(req.peak, Math.abs(sample));
      if (++req.peakCount === size) {
        req.peaks.push(req.peak);
        req.peak = 0;
        req.peakCount = 0;
      }
    }
  }

  // The spoken-text view: the text of the request, each word in a span of its own once the
  // server has said when it is heard. Words are substrings of the text in order, so each is
  // found after the previous one; whatever lies between stays as it was written.
  const spokenView = $("spoken");

  function showSpoken(req, text) {
    req.shown = text;
    req.cursor = 0;
    req.tail = document.createTextNode(text);
    spokenView.replaceChildren(req.tail);
    spokenView.classList.remove("over");
    spokenView.scrollTop = 0;
  }

  function appendSpoken(req, text) {
    req.shown += text;
    req.tail.appendData(text);
  }

  // What of `text` is heard: the words inside SSML's tags, as the word timings name them.
  function spokenText(text) {
    if (!/^\s*(<\?xml[^>]*\?>\s*)?<speak[\s>]/.test(text)) {
      return text;
    }
    const parsed = new DOMParser().parseFromString(text, "application/xml");
    return parsed.querySelector("parsererror") ? text : parsed.documentElement.textContent.trim();
  }

  function addWord(req, data) {
    const word = {id: data.id, text: data.word, start: clockTime(req, data.start),
      end: clockTime(req, data.end), node: null, gap: null, textEnd: -1};
    const at = req.shown.indexOf(data.word, req.cursor);
    if (at >= 0) {
      word.gap = document.createElement("span");
      word.gap.textContent = req.shown.slice(req.cursor, at);
      word.node = document.createElement("span");
      word.node.className = "word";
      word.node.textContent = data.word;
      req.cursor = word.textEnd = at + data.word.length;
      const tail = document.createTextNode(req.shown.slice(req.cursor));
      req.tail.replaceWith(word.gap, word.node, tail);
      req.tail = tail;
    }
    req.words.push(word);
    if (req.chunks === 1 && word.textEnd >= 0) {
      req.firstChunkEnd = word.textEnd;  // the words of the first chunk come before the second
      figures(req, performance.now());
    }
  }

  // Light the words whose time has come, in order, and keep the lit one in view.
  function light(req, heard) {
    while (req.lit < req.words.length && req.words[req.lit].start <= heard) {
      const word = req.words[req.lit];
      req.current?.node?.classList.remove("now");
      word.gap?.classList.add("said");
      word.node?.classList.add("said", "now");
      demo.highlights.push({request: req.id, id: word.id, word: word.text,
        shown: word.node?.textContent, at: heard, start: word.start});
      if (req.live && word.textEnd >= 0) {
        const sent = sentAt(req, word.textEnd);
        $("lag").textContent = `${((performance.now() - sent) / 1000).toFixed(1)} s`;
      }
      req.current = word;
      req.lit += 1;
      if (word.node) {
        keepInView(word.node);
      }
    }
    if (req.current && heard >= req.current.end + PAUSE_SECONDS) {
      req.current.node?.classList.remove("now");
      req.current = null;
    }
  }

  function keepInView(node) {
    const top = node.offsetTop;
    const bottom = spokenView.scrollTop + spokenView.clientHeight;
    if (top < spokenView.scrollTop || top + node.offsetHeight > bottom) {
      spokenView.scrollTop = top - spokenView.clientHeight / 3;
    }
  }

  function playedSeconds(req, heard) {
    let played = 0;
    for (const piece of req.timeline) {
      played += Math.min(Math.max(heard - piece.start, 0), piece.duration);
    }
    return played;
  }

  // The audio received as bars, those played in the accent colour, and where playback is.
  function drawWaveform(req, played) {
    const canvas = $("waveform");
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * ratio);
    const height = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, width, height);
    const received = req.samples / req.rate;
    // At least a few seconds across, so that a short text is not stretched into a few wide bars.
    const span = Math.max(received, 4);
    const step = 4 * ratio;
    const bars = Math.floor(width / step);
    const style = getComputedStyle(canvas);
    for (let bar = 0; bar < bars; bar++) {
      const from = (bar / bars) * span;
      if (from >= received) {
        break;
      }
      const last = Math.min(req.peaks.length, Math.ceil(((bar + 1) / bars) * span / PEAK_SECONDS));
      let peak = 0;
      for (let i = Math.floor(from / PEAK_SECONDS); i < last; i++) {
        peak = Math.max(peak, req.peaks[i]);
      }
      const size = Math.max(ratio, Math.min(1, peak * 1.5) * (height - 2 * ratio));
      context.fillStyle = from < played ? style.color : style.borderColor;
      context.fillRect(bar * step, (height - size) / 2, step - ratio, size);
    }
    if (received) {
      context.fillStyle = style.outlineColor;
      context.fillRect(Math.min(width - ratio, (played / span) * width), 0, ratio, height);
    }
  }

  // One frame of the playback view, and the next while the audio plays.
  let animating = false;

  function animate() {
    if (!animating) {
      animating = true;
      requestAnimationFrame(frame);
    }
  }

  function frame() {
    animating = false;
    const req = request;
    if (!req) {
      return;
    }
    const heard = req.stoppedAt ?? heardTime();
    light(req, heard);
    const received = req.samples / req.rate;
    // Played out, the last of it is still in the output's delay: all the same, it is played.
    const played = req.playedOut ? received : Math.min(playedSeconds(req, heard), received);
    $("progress").textContent =
      `${played.toFixed(1)} s played of ${received.toFixed(1)} s received`;
    drawWaveform(req, played);
    if (!req.settled) {
      animate();
    }
  }

  // When the text up to `end` of the shown text went to the server: the message that carried
  // it, or that carried the punctuation after it. A clause ("Hello there,") is spoken only once
  // the next word shows it is over, so then the message after.
  function sentAt(req, end, clause = false) {
    const punctuation = /^["'”’)\]]*[.,!?;:]*/.exec(req.shown.slice(end))[0];
    let i = req.sends.findIndex((send) => send.upTo >= end + punctuation.length);
    if (i < 0) {
      return req.sentAt;
    }
    if (clause && /[,;:]$/.test(punctuation) && i + 1 < req.sends.length &&
        req.sends[i + 1].at <= req.firstAt) {
      i += 1;
    }
    return req.sends[i].at;
  }

  function figures(req, now) {
    const seconds = req.samples / req.rate;
    let first = null;
    if (req.firstAt && !req.live) {
      first = req.firstAt - req.sentAt;
    } else if (req.firstAt && req.firstChunkEnd >= 0) {
      // Typing: from when the words of the first chunk were sent, not from the first key.
      first = req.firstAt - sentAt(req, req.firstChunkEnd, true);
    }
    $("ttfa").textContent = first === null ? "–" : `${Math.round(first)} ms`;
    $("chunks").textContent = String(req.chunks);
    $("audio-seconds").textContent = `${seconds.toFixed(1)} s`;
    $("rtf").textContent = seconds ? ((now - req.sentAt) / 1000 / seconds).toFixed(3) : "–";
  }

  // Typing, the real-time factor would measure the typist; how far the voice trails is shown.
  function showFigures(live) {
    $("rtf-figure").hidden = live;
    $("figures-note").hidden = live;
    $("lag-figure").hidden = !live;
    $("live-figures-note").hidden = !live;
  }

  function offerDownload(req) {
    const header = new DataView(new ArrayBuffer(44));
    const dataBytes = req.samples * 2;
    const text = (offset, value) => [...value].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
    text(0, "RIFF");
    header.setUint32(4, 36 + dataBytes, true);
    text(8, "WAVEfmt ");
    header.setUint32(16, 16, true);
    header.setUint16(20, 1, true);  // PCM
    header.setUint16(22, 1, true);  // mono
    header.setUint32(24, req.rate, true);
    header.setUint32(28, req.rate * 2, true);
    header.setUint16(32, 2, true);
    header.setUint16(34, 16, true);
    text(36, "data");
    header.setUint32(40, dataBytes, true);
    if (download.href) {
      URL.revokeObjectURL(download.href);
    }
    download.href = URL.createObjectURL(new Blob([header, ...req.pcm], {type: "audio/wav"}));
    download.hidden = false;
  }

  // The server has ended the request (complete, error or cancelled): no more audio will come,
  // but what came may still be playing.
  function answered(req) {
    req.answered = true;
    idleSince = performance.now();  // the server's idle clock restarts with its last request
    settleIfOver(req);
  }

  function settleIfOver(req) {
    if (req === request && req.answered && !req.playing && !req.settled) {
      settle(req, true);
    }
  }

  // The request is over for the listener: its last audio has played, or it was stopped.
  function settle(req, playedOut) {
    req.settled = true;
    req.playedOut = playedOut;
    spokenView.classList.toggle("over", playedOut && req.complete);  // all of it was said
    speakButton.disabled = false;
    stopButton.disabled = true;
    // The server's idle clock ran while the audio played; restart it now, so that the socket
    // stays open the whole timeout from the silence, as the countdown shows.
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({type: "keepalive"}));
    }
    idleSince = performance.now();
    animate();  // the last frame: every word heard, the waveform all played
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
    stop();
    speakButton.disabled = true;
    $("reconnect").hidden = true;
    let open;
    try {
      open = await connect();
    } catch (error) {
      speakButton.disabled = false;
      return false;
    }
    const req = request = {
      id: crypto.randomUUID().replaceAll("-", ""), sentAt: performance.now(), firstAt: null,
      chunks: 0, samples: 0, rate: Number(inputs.sample_rate.value), pcm: [], sources: [],
      nextStart: 0, playing: 0, live: Boolean(more.continue),
      answered: false,  // the server has ended it
      complete: false,  // ...with all of its audio
      ended: false,  // typing: the client has sent its last text
      settled: false,  // its audio has all played, or it was stopped
      playedOut: false,  // settled with all of its audio played
      stoppedAt: null,  // when Stop was pressed, on the audio clock
      timeline: [], peaks: [], peak: 0, peakCount: 0,
      words: [], lit: 0, current: null, firstChunkEnd: -1,
      sends: [],  // typing: when each piece of text went, and where it ends in the shown text
    };
    showSpoken(req, spokenText(text));
    const box = spokenView.getBoundingClientRect();
    if (!req.live && (box.top < 0 || box.bottom > innerHeight)) {
      // Bring the words into view (on a phone they are below the form); typing, stay put.
      $("playback").scrollIntoView({block: "nearest"});
    }
    req.sends.push({at: req.sentAt, upTo: req.shown.length});
    showFigures(req.live);
    $("lag").textContent = "–";
    figures(req, req.sentAt);
    download.hidden = true;
    open.send(JSON.stringify({
      text,
      voice_id: inputs.voice.value,
      request_id: req.id,
      speed: Number(inputs.speed.value),
      sample_rate: Number(inputs.sample_rate.value),
      word_timestamps: true,
      ...more,
    }));
    idleSince = performance.now();
    stopButton.disabled = false;
    animate();
    return true;
  }

  // "Speak as I type": the words of a reply go to the server as they are finished, as more
  // text of one open request (continue: true), the way a language model's reply arrives. Enter
  // ends the reply; the text stays, and what is typed on the next line is the next reply.
  const live = {
    from: 0,  // where the reply being typed starts in the text
    sent: "",  // the text up to what has gone to the server (or was there before)
    starting: null,  // the first message of a reply, while its socket opens
  };

  function liveOpen() {
    return request && request.live && !request.answered && !request.ended &&
      socket && socket.readyState === WebSocket.OPEN;
  }

  // Start the next reply at the end of the text as it is now.
  function liveFromHere() {
    live.sent = inputs.text.value;
    live.from = live.sent.length;
  }

  async function typed() {
    if (!$("live").checked || live.starting) {
      return;
    }
    const value = inputs.text.value;
    if (!value.startsWith(live.sent)) {
      // Text already sent was edited: its reply starts over from the start of its line.
      let changed = 0;
      while (value[changed] === live.sent[changed]) {
        changed += 1;
      }
      if (liveOpen()) {
        stop();
      }
      if (changed < live.from) {
        live.from = changed && value.lastIndexOf("\n", changed - 1) + 1;
      }
      live.sent = value.slice(0, live.from);
    }
    const more = value.slice(live.sent.length);
    if (!value.slice(live.from).trim() || !more.trim() || !/[\s.,!?;:]$/.test(more)) {
      return;  // wait for the word to end
    }
    live.sent = value;
    if (liveOpen()) {
      socket.send(JSON.stringify({text: more, request_id: request.id, continue: true}));
      appendSpoken(request, more);
      request.sends.push({at: performance.now(), upTo: request.shown.length});
      idleSince = performance.now();
    } else {
      clearErrors();
      const reply = value.slice(live.from);
      live.starting = begin(reply.slice(reply.length - reply.trimStart().length), {continue: true});
      await live.starting;
      live.starting = null;
    }
  }

  async function endLive() {
    if (live.starting) {
      await live.starting;
    }
    const value = inputs.text.value;
    const rest = value.slice(live.sent.length);
    if (liveOpen()) {
      socket.send(JSON.stringify({
        text: rest, request_id: request.id, flush: true, continue: false,
      }));
      appendSpoken(request, rest);
      request.sends.push({at: performance.now(), upTo: request.shown.length});
      request.ended = true;
      idleSince = performance.now();
    } else if (value.slice(live.from).trim()) {
      // A reply too short to have started (one unfinished word) goes as one request.
      begin(value.slice(live.from).trim());
    }
    if (value.trim()) {
      inputs.text.value = value.replace(/\s*$/, "\n");
    }
    liveFromHere();
  }

  // Silence at once; tell the server to stop too, if the request is still going.
  function stop() {
    const req = request;
    if (!req || req.settled) {
      return;
    }
    req.stoppedAt = heardTime();
    for (const source of req.sources) {
      source.stop();
    }
    req.sources = [];
    if (!req.answered && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({type: "cancel", request_id: req.id}));
      idleSince = performance.now();
    }
    req.answered = true;
    settle(req, false);
  }

  function tick() {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return;
    }
    const now = performance.now();
    if (request && !request.settled) {
      if (request.answered && now - idleSince > socketTimeout * 500) {
        // The request has ended but its audio still plays: the page is in use, so keep the
        // server from closing the socket under the listener.
        socket.send(JSON.stringify({type: "keepalive"}));
        idleSince = now;
      }
      setConnection("busy", "Connected · speaking");
      return;
    }
    const left = Math.max(0, Number(socketTimeout) - (now - idleSince) / 1000);
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
  function liveChanged() {
    liveFromHere();
    $("live-hint").hidden = !$("live").checked;
    showFigures($("live").checked);
  }
  $("live").addEventListener("change", liveChanged);
  liveChanged();  // a reload may have kept the box ticked
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
  window.addEventListener("resize", animate);
  setInterval(tick, 250);
  loadVoices();
})();
