// The lab: claims about batch normalization as measured experiments (`normkit lab`, or
// `import { lab } from 'normkit/node'`).
export * from './experiment.js';
export { EXPERIMENTS, findExperiments } from './registry.js';
export { type LabEvent, type LabOptions, type LabResult, runLab } from './runner.js';
export { readResults, reportHtml, reportMarkdown, writeReport } from './report.js';
export { renderSvg, lineChart, barChart } from './plot.js';
