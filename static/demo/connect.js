// The demo page's "Connect a client" panel: this server's WebSocket URL, and code that speaks
// the page's text with its voice, speed and sample rate, in Python, JavaScript and curl. The
// key is always read from TTS_API_KEY: a key pasted into the page never goes into the code.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socketUrl = `${scheme}://${location.host}/ws/tts/`;
  const speechUrl = `${location.origin}/v1/audio/speech`;

  // A JSON string is a valid string literal in Python and in JavaScript alike.
  const literal = (value) => JSON.stringify(value);
  // One shell word, in single quotes; a quote inside closes, escapes and reopens them.
  const shellWord = (value) => `'${value.replaceAll("'", "'\\''")}'`;

  function settings() {
    return {
      text: $("text").value,
      voice: $("voice").value,
      speed: Number($("speed").value),
      rate: Number($("sample-rate").value),
    };
  }

  function python({text, voice, speed, rate}) {
    return `import asyncio, base64, json, os, wave

import websockets

URL = ${literal(socketUrl)}
MESSAGE = {
    "text": ${literal(text)},
    "voice_id": ${literal(voice)},
    "speed": ${speed},
    "sample_rate": ${rate},
    "word_timestamps": True,
}


async def main():
    headers = {"Authorization": f"Bearer {os.environ['TTS_API_KEY']}"}
    audio = bytearray()
    async with websockets.connect(URL, additional_headers=headers) as ws:
        await ws.send(json.dumps(MESSAGE))
        while True:
            message = json.loads(await ws.recv())
            if message["status"] == "chunk":
                audio += base64.b64decode(message["data"]["audio"])  # play it now
            elif message["status"] == "word_timestamp":
                print(f"{message['data']['start']:7.3f} s  {message['data']['word']}")
            elif message["status"] == "complete":
                break
            else:
                raise RuntimeError(message)
    with wave.open("speech.wav", "wb") as out:  # 16-bit mono PCM
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MESSAGE["sample_rate"])
        out.writeframes(audio)


asyncio.run(main())
`;
  }

  function javascript({text, voice, speed, rate}) {
    return `const endpoint = ${literal(socketUrl)};
const key = process.env.TTS_API_KEY;  // in a page: a key given to its user, never one in its code

const ws = new WebSocket(\`\${endpoint}?token=\${encodeURIComponent(key)}\`);
const chunks = [];
ws.onopen = () => ws.send(JSON.stringify({
  text: ${literal(text)},
  voice_id: ${literal(voice)},
  speed: ${speed},
  sample_rate: ${rate},
  word_timestamps: true,
}));
ws.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.status === "chunk") {
    chunks.push(message.data.audio);  // base64 of 16-bit mono PCM: play it now
  } else if (message.status === "word_timestamp") {
    console.log(message.data.start.toFixed(3), message.data.word);
  } else {
    console.log(message.status, message.data ?? message.message);  // complete, or an error
    ws.close();
  }
};
`;
  }

  function curl({text, voice, speed}) {
    const body = JSON.stringify({
      model: "tts-1", voice, input: text, speed, response_format: "wav",
    });
    return `curl ${speechUrl} \\
  -H "Authorization: Bearer $TTS_API_KEY" -H "Content-Type: application/json" \\
  -d ${shellWord(body)} \\
  -o speech.wav
`;
  }

  function render() {
    const current = settings();
    $("snippet-python").textContent = python(current);
    $("snippet-javascript").textContent = javascript(current);
    $("snippet-curl").textContent = curl(current);
  }

  // The clipboard API needs a secure page (https, or this machine); elsewhere, the old way.
  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.append(area);
      area.select();
      let copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (ignored) {
        copied = false;
      }
      area.remove();
      return copied;
    }
  }

  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const source = $(button.dataset.copy);
      const copied = await copy(source.textContent);
      if (!copied) {
        getSelection().selectAllChildren(source);  // the user can press Ctrl+C
      }
      button.textContent = copied ? "Copied" : "Press Ctrl+C";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }

  // Tabs as ARIA describes them: one panel shown, arrow keys move between the tabs. The Copy
  // button next to them copies the code shown.
  const tabs = [...document.querySelectorAll("#connect [role=tab]")];

  function select(tab) {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
      const panel = $(other.getAttribute("aria-controls"));
      panel.hidden = !chosen;
      if (chosen) {
        $("copy-snippet").dataset.copy = panel.querySelector("code").id;
      }
    }
  }

  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (step) {
        const next = tabs[(index + step + tabs.length) % tabs.length];
        select(next);
        next.focus();
      }
    });
  }

  $("ws-url").textContent = socketUrl;
  for (const id of ["text", "voice", "speed", "sample-rate"]) {
    $(id).addEventListener("input", render);
    $(id).addEventListener("change", render);
  }
  render();
})();
