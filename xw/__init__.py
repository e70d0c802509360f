"""xw: does model scale amplify or diminish English intermediate-task gains on XTREME?"""

__version__ = "0.1.0"
