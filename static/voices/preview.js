// The admin's Preview player: speak the sample text with the voice settings in the form.
"use strict";

(function () {
  const button = document.getElementById("preview-button");
  if (!button) {
    return;
  }
  const audio = document.getElementById("preview-audio");
  const status = document.getElementById("preview-status");
  const form = document.getElementById("voice_form");
  // voice_id picks the voice's own pronunciations, once it has been saved.
  const fields = [
    "voice_id", "model", "speaker", "default_speed", "noise_scale", "noise_width",
    "sentence_silence", "volume",
  ];

  button.addEventListener("click", async () => {
    const body = new FormData();
    body.append("text", document.getElementById("preview-text").value);
    for (const name of fields) {
      body.append(name, form.elements[name].value);
    }
    body.append("csrfmiddlewaretoken", form.elements.csrfmiddlewaretoken.value);
    button.disabled = true;
    status.textContent = "Synthesizing…";
    try {
      const response = await fetch(button.dataset.url, {method: "POST", body});
      if (!response.ok) {
        const problem = await response.json().catch(() => ({error: response.statusText}));
        const details = Object.entries(problem.fields || {}).map(([f, m]) => ` ${f}: ${m}`);
        status.textContent = problem.error + details.join(";");
        return;
      }
      if (audio.src) {
        URL.revokeObjectURL(audio.src);
      }
      audio.src = URL.createObjectURL(await response.blob());
      await audio.play();
      status.textContent = `Playing ${audio.duration.toFixed(1)} s.`;
    } catch (error) {
      status.textContent = `Preview failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  audio.addEventListener("ended", () => {
    status.textContent = `Played ${audio.duration.toFixed(1)} s.`;
  });
})();
