/** Progress as the engine reports it; the CLI decides how to show it. */
export interface ProgressEvent {
  /** Bytes of file content moved so far in this transfer (resumed bytes included). */
  bytes: number;
  total: number;
  /** Index and name of the file in flight. */
  file: number;
  name: string;
  files: number;
}

export type ProgressListener = (p: ProgressEvent) => void;
