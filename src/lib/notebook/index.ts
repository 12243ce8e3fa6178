export {
  inNotebook,
  showHtml,
  show,
  showTable,
  showImages,
  liveFigure,
  progressDisplay,
  setDisplayForTests,
} from './display';
export type { DisplayHost, HtmlDisplay, LiveFigure } from './display';
