import { Option } from 'commander';

export const configOption = () =>
  new Option('-c, --config <file>', 'YAML config file').env('TIDEMARK_CONFIG').makeOptionMandatory();

export const jsonOption = () => new Option('--json', 'machine-readable output');
