"""Instance generators and loaders."""

from jaxtick.problems.coins import coin_problems
from jaxtick.problems.digits import Split, load_digits
from jaxtick.problems.heads import HeadLogits, synthetic_heads
from jaxtick.problems.mixtures import (MixtureTask, log_posterior,
                                       mixture_task, sample_mixture)
from jaxtick.problems.streams import (bernoulli_pairs, gaussian_pairs,
                                      hypothesis_problems, parameter_grid)
from jaxtick.problems.pools import (GROUND_TRUTH, PoolMixture, QueryPool,
                                    Responses, RewardOracle, draw_response,
                                    prm_oracle, query_pool, response,
                                    sample_responses)
from jaxtick.problems import logs
from jaxtick.problems.logs import (ReplayPool, SampleLog, example_log,
                                   example_log_path, load_columns, load_jsonl,
                                   load_lm_eval,
                                   load_npz, load_search_and_learn,
                                   replay_pool, replay_response, save_jsonl,
                                   save_npz)
from jaxtick.problems.game_trees import (GameNode, GameTree, GameTreeSolution,
                                         game_tree_env, game_tree_leaf_values,
                                         game_tree_problems, game_tree_return_var,
                                         game_tree_solve)

__all__ = ["coin_problems"]
__all__ += ["HeadLogits", "MixtureTask", "Split", "load_digits",
            "log_posterior", "mixture_task", "sample_mixture", "synthetic_heads"]
__all__ += ["GameNode", "GameTree", "GameTreeSolution", "game_tree_env",
            "game_tree_leaf_values", "game_tree_problems",
            "game_tree_return_var", "game_tree_solve"]
__all__ += ["bernoulli_pairs", "gaussian_pairs", "hypothesis_problems",
            "parameter_grid"]
__all__ += ["GROUND_TRUTH", "PoolMixture", "QueryPool", "Responses",
            "RewardOracle", "draw_response", "prm_oracle", "query_pool",
            "response", "sample_responses"]
__all__ += ["ReplayPool", "SampleLog", "example_log", "example_log_path", "load_columns",
            "load_jsonl", "load_lm_eval", "load_npz", "load_search_and_learn",
            "logs", "replay_pool", "replay_response", "save_jsonl", "save_npz"]
