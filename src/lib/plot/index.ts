/** Figures (Plotly JSON), tables, image grids and block diagrams, as data in and HTML out; nothing here runs a model. */
export { figure, line, scatter, bar, histogram, heatmap, figureTitle } from './figure';
export type { Figure, Trace, Layout, PlotConfig, Values } from './figure';
export { figureHtml, newPlotId, plotlyScriptTag, standaloneHtml, writeHtml } from './html';
export type { FigureHtmlOptions, HtmlBlock, StandalonePage } from './html';
export { tableHtml, tableText, formatCell, toTableData } from './table';
export type { Rows, FrameLike, TableInput, TableOptions, TableData } from './table';
export { imageGridHtml, encodeGrayPng, checkGrayImages } from './images';
export type { GrayImage, ImageGridOptions } from './images';
export { escapeHtml, jsonForScript } from './escape';
export { curvesFigure } from './training';
export { confusionFigure, reliabilityFigure, rocFigure } from './eval';
export { diagramModel, diagramsSvg } from './diagram';
export type { DiagramBox, DiagramModel } from './diagram';
