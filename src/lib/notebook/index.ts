/** Showing things in a tslab notebook: figures, tables, images, progress, the live training display. */
export {
  inNotebook,
  showHtml,
  show,
  showTable,
  showImages,
  liveFigure,
  progressDisplay,
  newOutput,
  setDisplayForTests,
} from './display';
export type { DisplayHost, HtmlDisplay, LiveFigure } from './display';
export { NO_DATA_TAG, pretrainedWeights, requireData } from './guard';
export { trainingDisplay } from './training';
export type { TrainingDisplay } from './training';
