// Privacy masks drawn on a frame: click to add points, close the polygon,
// or type the polygons (x,y pairs in 0..1, one polygon a line). The text
// and the drawing are two views of one list of polygons.

export class MaskEditor {
  constructor(canvas, textarea) {
    this.canvas = canvas;
    this.textarea = textarea;
    this.context = canvas.getContext("2d");
    this.image = null;
    this.polygons = [];  // closed: [[{x, y}...]...]
    this.points = [];  // the polygon being drawn
    canvas.addEventListener("click", (event) => this.add(event));
    textarea.addEventListener("change", () => this.read());
  }

  setImage(image) {
    this.image = image;
    if (image) {
      this.canvas.height = Math.round(this.canvas.width * image.naturalHeight / image.naturalWidth);
    }
    this.draw();
  }

  add(event) {
    const box = this.canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width;
    const y = (event.clientY - box.top) / box.height;
    this.points.push({ x: clamp(x), y: clamp(y) });
    this.draw();
  }

  close() {
    if (this.points.length >= 3) this.polygons.push(this.points);
    this.points = [];
    this.write();
    this.draw();
  }

  undo() {
    if (this.points.length) this.points.pop();
    else if (this.polygons.length) this.points = this.polygons.pop();
    this.write();
    this.draw();
  }

  clear() {
    this.polygons = [];
    this.points = [];
    this.write();
    this.draw();
  }

  /** The closed polygons, for Options' `mask_space`. */
  spaces() {
    return this.polygons.map((points) => ({ points: points.map((p) => ({ x: round(p.x), y: round(p.y) })) }));
  }

  write() {
    this.textarea.value = this.polygons
      .map((points) => points.map((p) => `${round(p.x)},${round(p.y)}`).join(" "))
      .join("\n");
  }

  read() {
    const polygons = [];
    for (const line of this.textarea.value.split("\n")) {
      const points = line.trim().split(/[\s;]+/).filter(Boolean).map((pair) => {
        const [x, y] = pair.split(",").map(Number);
        return { x: clamp(x), y: clamp(y) };
      }).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
      if (points.length >= 3) polygons.push(points);
    }
    this.polygons = polygons;
    this.draw();
  }

  draw() {
    const { context: c, canvas } = this;
    c.clearRect(0, 0, canvas.width, canvas.height);
    if (this.image) c.drawImage(this.image, 0, 0, canvas.width, canvas.height);
    else {
      c.fillStyle = "#333";
      c.fillRect(0, 0, canvas.width, canvas.height);
    }
    const path = (points, closed) => {
      c.beginPath();
      points.forEach((p, i) => (i ? c.lineTo : c.moveTo).call(c, p.x * canvas.width, p.y * canvas.height));
      if (closed) c.closePath();
    };
    c.lineWidth = 2;
    for (const polygon of this.polygons) {
      path(polygon, true);
      c.fillStyle = "rgba(220, 40, 40, 0.45)";
      c.fill();
      c.strokeStyle = "#ff5050";
      c.stroke();
    }
    if (this.points.length) {
      path(this.points, false);
      c.strokeStyle = "#ffd040";
      c.stroke();
      for (const p of this.points) {
        c.fillStyle = "#ffd040";
        c.fillRect(p.x * canvas.width - 3, p.y * canvas.height - 3, 6, 6);
      }
    }
  }
}

function clamp(value) {
  return Math.min(1, Math.max(0, value));
}

function round(value) {
  return Math.round(value * 10000) / 10000;
}
