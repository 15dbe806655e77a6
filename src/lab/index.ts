// The lab: claims about batch normalization as measured experiments (`normkit lab`, or
// `import { lab } from 'normkit/node'`).
export * from './experiment.js';
export { EXPERIMENTS, findExperiments } from './registry.js';
export { type LabEvent, type LabOptions, type LabResult, resultJson, runLab } from './runner.js';
export { readResults, reportHtml, reportMarkdown, writeReport } from './report.js';
export { renderSvg, lineChart, barChart, scatterChart, imageGrid } from './plot.js';
