package main

import (
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	asioColor = color.RGBA{R: 0xd6, G: 0x3a, B: 0x2f, A: 0xff}
	peerColor = color.RGBA{R: 0x5b, G: 0x7d, B: 0xb1, A: 0xff}
)

// chart draws one PNG for a scenario: a bar panel per compared figure
// (throughput and server CPU per message, or RSS per idle connection),
// asio's bar in its own colour.
func chart(res scenarioResult, path string) error {
	ms := metricsFor(res.Scenario)
	plots := make([][]*plot.Plot, 1)
	for _, m := range ms {
		p, err := barPanel(res, m)
		if err != nil {
			return err
		}
		plots[0] = append(plots[0], p)
	}
	w := vg.Length(len(ms)) * 11 * vg.Centimeter
	h := 9 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(ms), PadX: vg.Centimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for j, p := range plots[0] {
		p.Draw(canvases[0][j])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func barPanel(res scenarioResult, m metric) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = res.Scenario.Name + ": " + m.chartTitle
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	var names []string
	var maxV float64
	var lx plotter.XYs
	var lt []string
	for i, r := range res.Rows {
		names = append(names, r.Impl)
		v := 0.0
		label := "error"
		if r.Err == "" {
			v = m.get(r)
			label = m.format(v)
		}
		if v > maxV {
			maxV = v
		}
		bar, err := plotter.NewBarChart(plotter.Values{v}, vg.Centimeter)
		if err != nil {
			return nil, err
		}
		bar.XMin = float64(i)
		bar.LineStyle.Width = 0
		bar.Color = peerColor
		if isAsio(r.Impl) {
			bar.Color = asioColor
		}
		p.Add(bar)
		lx = append(lx, plotter.XY{X: float64(i), Y: v})
		lt = append(lt, label)
	}
	p.NominalX(names...)
	if maxV <= 0 {
		maxV = 1
	}
	p.Y.Max = maxV * 1.15
	for i := range lx {
		lx[i].Y += maxV * 0.02
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: lx, Labels: lt})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign = draw.XCenter
		labels.TextStyle[i].Font.Size = vg.Points(8)
	}
	p.Add(labels)
	return p, nil
}
