"""The activations archc knows: a new one is one entry of this table (its name in specs, its
torch.nn class, whether generated code may run it in place)."""

TABLE = {"relu": ("ReLU", True), "relu6": ("ReLU6", True), "silu": ("SiLU", True),
         "gelu": ("GELU", False), "sigmoid": ("Sigmoid", False), "tanh": ("Tanh", False),
         "hardswish": ("Hardswish", True), "hardsigmoid": ("Hardsigmoid", True),
         "leaky_relu": ("LeakyReLU", True), "mish": ("Mish", True)}
ACTIVATION_FUNCTIONS = tuple(TABLE)
ACTIVATIONS = (*ACTIVATION_FUNCTIONS, "none")  # what a conv unit or a residual add may apply
ACTIVATION_CLASSES = {name: cls for name, (cls, _) in TABLE.items()}
