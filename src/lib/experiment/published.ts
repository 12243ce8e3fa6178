/**
 * Published results on the same 624-image test set of the Kermany pediatric chest X-ray data,
 * with the settings that make them differ from the kit's runs. Numbers as reported; ranges where
 * the source gives them.
 */
export interface PublishedResult {
  name: string;
  citation: string;
  settings: string;
  accuracy?: number;
  sensitivity?: number;
  specificity?: number;
  auc?: number;
}

export const PUBLISHED: readonly PublishedResult[] = [
  {
    name: 'Kermany et al. 2018',
    citation: 'Kermany, Goldbaum, Cai et al., Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning. Cell 172(5):1122–1131 (2018)',
    settings: 'Inception-v3 pretrained on ImageNet (transfer learning), full-resolution images, 5,232 training images, pneumonia vs normal',
    accuracy: 0.928,
    sensitivity: 0.932,
    specificity: 0.901,
    auc: 0.968,
  },
  {
    name: 'MedMNIST v2, ResNet-50 (224)',
    citation: 'Yang, Shi, Wei et al., MedMNIST v2: A large-scale lightweight benchmark for 2D and 3D biomedical image classification. Scientific Data 10:41 (2023)',
    settings: 'ResNet-50 from scratch on PneumoniaMNIST: center-cropped, resized to 224 px, MedMNIST\'s own train/val split (not patient-aware), 100 epochs',
    accuracy: 0.884,
    auc: 0.962,
  },
];
