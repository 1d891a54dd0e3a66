/** The config kernel: YAML with positions, ${VAR}, units, option tables, FILE:LINE:COL errors. */

export { substituteEnv, type Env } from './env.js';
export { didYouMean, levenshtein } from './did-you-mean.js';
export { isLoopbackListen, listenToUrl, parseListen, type ListenAddress } from './listen.js';
export { parseWithTable, readConfigFile, type ParseOptions } from './load.js';
export { componentNameProblem, isValidTopicName, labelNameProblem, topicNameProblem } from './names.js';
export { t, table, typeName, type CheckContext, type OptionSpec, type OptionTable, type OptionType } from './option-table.js';
export { formatDuration, formatSize, parseDuration, parseSize } from './units.js';
export { Validator, type DefaultOverrides } from './validate.js';
export { YamlSource, type Position } from './yaml-source.js';
