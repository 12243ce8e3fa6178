/** Pretrained ConvNeXt weights (HuggingFace and timm layouts): read safetensors, map every tensor onto the kit's network, adapt it to gray X-rays, download from the hub. */
export { parseSafetensors, readSafetensors } from './safetensors';
export type { SafetensorsFile, StoredTensor } from './safetensors';
export { checkMapping, CONVNEXT_VARIANTS, IMAGENET_MEAN, IMAGENET_STD, kitParams, kitTensor, pickleConversion, readPretrained, transformTensor } from './convnext';
export type { Layout, PretrainedConvNeXt, PretrainNormalization, TensorMapping, Transform } from './convnext';
export { adaptPretrained, adaptStemBias, adaptStemKernel, GRAYSCALE_MODES } from './adapt';
export type { AdaptedModel, AdaptOptions, GrayscaleMode, PretrainedInit } from './adapt';
export { DEFAULT_HUB_ENDPOINT, DEFAULT_REVISION, downloadPretrained, HUB_FILES, HUB_RECORD, hubFileUrl, hubRepoOf, pretrainedDir, resolvePretrained } from './hub';
export type { HubCheck, HubDownloadOptions, HubFile, PretrainedDownload } from './hub';
